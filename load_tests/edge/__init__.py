"""Edge load: N edge-client processes against the all-cloud cascade on the same images."""
