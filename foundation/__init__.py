"""Foundation layer: asset and cache paths. Imports nothing of the project."""
