"""What continuous footage covers: which segments show a time range, where nothing was recorded,
and a day laid out hour by hour with its motion (the web UI's timeline). Pure: rows in, spans out.

One rule for a gap, used by ``vcam export``, the API and the timeline alike: segments join frame to
frame, so more than GAP_TOLERANCE_S between one's end and the next one's start is time nobody saw.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

GAP_TOLERANCE_S = 1.0
HOUR_S = 3600.0

Interval = tuple[float, float]  # (from, to), epoch seconds


class Span(Protocol):
    """A recorded segment (the event log's SegmentRow)."""

    @property
    def path(self) -> str: ...

    @property
    def start(self) -> float: ...  # epoch seconds

    @property
    def end(self) -> float: ...


class Moment(Protocol):
    """A motion event (the event log's EventRow): no end while it goes on."""

    @property
    def id(self) -> int: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float | None: ...


@dataclass(frozen=True)
class Cover:
    segments: list[Span]
    recorded: list[Interval]  # what the segments show, joined where they meet
    gaps: list[Interval]  # what none of them shows


def cover(segments: Sequence[Span], start: float, end: float, tolerance: float = GAP_TOLERANCE_S) -> Cover:
    """The segments that show some of ``start``..``end``, what they show, and what they do not."""
    chosen = sorted((s for s in segments if s.end > start and s.start < end), key=lambda s: s.start)
    recorded: list[Interval] = []
    for segment in chosen:
        begin, stop = max(segment.start, start), min(segment.end, end)
        if recorded and begin - recorded[-1][1] <= tolerance:
            recorded[-1] = (recorded[-1][0], max(recorded[-1][1], stop))
        else:
            recorded.append((begin, stop))
    gaps: list[Interval] = []
    reached = start
    for begin, stop in recorded:
        if begin - reached > tolerance:
            gaps.append((reached, begin))
        reached = stop
    if end - reached > tolerance:
        gaps.append((reached, end))
    return Cover(chosen, recorded, gaps)


def day_span(day: str) -> Interval | None:
    """A local day (YYYY-MM-DD) from its midnight to the next: 23 or 25 hours on a DST change."""
    try:
        parsed = time.strptime(day, "%Y-%m-%d")
    except ValueError:
        return None
    start = time.mktime((parsed.tm_year, parsed.tm_mon, parsed.tm_mday, 0, 0, 0, 0, 0, -1))
    end = time.mktime((parsed.tm_year, parsed.tm_mon, parsed.tm_mday + 1, 0, 0, 0, 0, 0, -1))
    return start, end


@dataclass(frozen=True)
class Motion:
    event: int
    start: float
    end: float


@dataclass(frozen=True)
class Hour:
    start: float
    end: float
    recorded: list[Interval]
    motion: list[Motion]


@dataclass(frozen=True)
class Day:
    start: float
    end: float
    hours: list[Hour]
    recorded: list[Interval]
    gaps: list[Interval]  # up to now: the rest of today is not a gap yet
    motion: list[Motion]
    segments: int

    @property
    def recorded_s(self) -> float:
        return sum(b - a for a, b in self.recorded)


def day(segments: Sequence[Span], events: Sequence[Moment], start: float, end: float, now: float) -> Day:
    """A day's footage in hours of the clock (an hour is 3600 s from midnight on, so a DST day has
    23 or 25 of them): what was recorded, the gaps, and the motion."""
    seen_until = max(start, min(end, now))
    covered = cover(segments, start, seen_until)
    motion = [
        Motion(e.id, max(e.start, start), min(now if e.end is None else e.end, end))
        for e in sorted(events, key=lambda e: e.start)
        if e.start < end and (e.end is None or e.end > start)
    ]
    hours = []
    at = start
    while at < end:
        stop = min(at + HOUR_S, end)
        hours.append(
            Hour(
                at,
                stop,
                [(max(a, at), min(b, stop)) for a, b in covered.recorded if b > at and a < stop],
                [Motion(m.event, max(m.start, at), min(m.end, stop)) for m in motion if m.end >= at and m.start < stop],
            )
        )
        at = stop
    return Day(start, end, hours, covered.recorded, covered.gaps, motion, len(covered.segments))


def playing_from(segments: Sequence[Span], at: float) -> tuple[Span, float] | None:
    """The segment to play for a moment, and the offset into it: the one showing ``at``, else (in a
    gap) the next one from its start; None after the last."""
    for segment in sorted(segments, key=lambda s: s.start):
        if segment.end > at:
            return segment, max(0.0, at - segment.start)
    return None
