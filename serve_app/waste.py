"""Device time that ran but whose result nobody used: billed, and reported apart.

A member image can be cancelled after its batch's forward pass started (the tier's
outcome was already fixed, the call timed out, the client or deadline went away). The
device still did the work, so it is billed. The member cannot answer the cancelled
caller, so it carries the waste on its next answer (`MemberResult.wasted_device_seconds`)
and the ingress adds it to the "wasted" side of its stats. Work on a replica that died is
lost with the replica and cannot be billed (nothing reports it).
"""

from __future__ import annotations


class WorkTicket:
    """One image's claim on a batch: the batch writes its device-second share here."""

    __slots__ = ("abandoned", "device_seconds")

    def __init__(self) -> None:
        self.device_seconds: float | None = None
        self.abandoned = False


class WasteMeter:
    """Device-seconds of one member's abandoned work not yet reported to an ingress."""

    def __init__(self) -> None:
        self._pending = 0.0
        self.total = 0.0

    def ran(self, ticket: WorkTicket, device_seconds: float) -> None:
        """The batch computed `ticket`'s image; waste if its caller already left."""
        ticket.device_seconds = device_seconds
        if ticket.abandoned:
            self._add(device_seconds)

    def abandon(self, ticket: WorkTicket) -> None:
        """The caller left; waste now if the image already ran, else when (if) it runs."""
        if ticket.abandoned:
            return
        ticket.abandoned = True
        if ticket.device_seconds is not None:
            self._add(ticket.device_seconds)

    def take(self) -> float:
        """The waste not yet reported, now handed to the caller of a successful answer."""
        pending, self._pending = self._pending, 0.0
        return pending

    def _add(self, seconds: float) -> None:
        self._pending += seconds
        self.total += seconds
