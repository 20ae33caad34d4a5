"""A pure, drift-free "every N seconds" for snapshots and for how often motion is analysed."""

from __future__ import annotations


class Every:
    """Due at the first call, then every ``interval`` seconds of the clock it is given; an interval
    of 0 or less is never due. Steps from the planned time, not from now, so it does not drift;
    after a gap it is due once, not once per missed slot."""

    SLACK = 1e-6  # a time this close before next_due counts as due (float stream times)

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.next_due: float | None = None

    @property
    def due_from(self) -> float | None:
        """The earliest time at which due() says yes; None before the first call."""
        return None if self.next_due is None else self.next_due - self.SLACK

    def due(self, now: float) -> bool:
        if self.interval <= 0:
            return False
        if self.due_from is not None and now < self.due_from:
            return False
        if self.next_due is None or now - self.next_due > self.interval:
            self.next_due = now + self.interval
        else:
            self.next_due += self.interval
        return True
