"""When to try a camera again: capped exponential backoff with jitter, and when to say so in the log."""

from __future__ import annotations


def delay(attempt: int, base: float, cap: float, rand: float) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = after the first failure).

    Doubles from ``base`` up to ``cap``; ``rand`` in [0, 1) shaves up to 20 % off so that
    several cameras on one network do not retry in lockstep. Never above ``cap``.
    """
    if attempt < 1:
        raise ValueError("attempt starts at 1")
    exponent = min(attempt - 1, 32)  # 2**32 * base is past any cap; stops float overflow
    full = min(cap, base * 2.0**exponent)
    return full * (1.0 - 0.2 * rand)


def worth_logging(failures: int) -> bool:
    """Log the 1st, 2nd, 4th, 8th… failure in a row: a dead camera gets ever rarer summary lines."""
    return failures >= 1 and failures & (failures - 1) == 0
