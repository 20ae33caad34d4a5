"""When clips start and end, and the pre-roll that feeds their start. Pure: times in, decisions out.

Times are stream seconds of one connection. A clip lasts CLIP_SECONDS measured on those times
(stream copy cuts at the first keyframe past that, so ±1 GOP). If motion still goes on when a
clip is full, the next clip starts with the very next packet: nothing lost, nothing twice.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Generic, Protocol, TypeVar


class Timed(Protocol):
    @property
    def time(self) -> float: ...

    @property
    def keyframe(self) -> bool: ...


T = TypeVar("T", bound=Timed)


class Action(Enum):
    IDLE = "idle"  # not recording: the packet only goes to the pre-roll
    START = "start"  # open a clip with the pre-roll from ``start_from``, then this packet
    WRITE = "write"  # add this packet to the open clip
    CUT = "cut"  # close the open clip before this packet; a new clip starts with it
    FINISH = "finish"  # close the open clip before this packet


@dataclass
class ClipPlanner:
    clip_seconds: float
    pre_seconds: float
    cut_on_keyframe: bool  # stream copy can only start a clip on a keyframe
    clip_start: float | None = None  # start of the clip being written
    last_end: float = -math.inf  # where the previous clip stopped: the next never starts earlier
    pending_start: float | None = None  # an event start not yet recorded
    motion_until: float = -math.inf  # motion counts as going on until then

    @property
    def recording(self) -> bool:
        return self.clip_start is not None

    @property
    def start_from(self) -> float:
        """Where a clip for the pending event should start: pre-roll, but never back into the last clip."""
        assert self.pending_start is not None
        return max(self.pending_start - self.pre_seconds, self.last_end)

    def motion(self, start: float, until: float) -> None:
        """An event began at ``start`` (stream time); motion goes on at least until ``until``."""
        if not self.recording and until > self.last_end:
            # motion not yet covered by a clip (a new event, or one that resumed after its clip ended)
            self.pending_start = start if self.pending_start is None else min(self.pending_start, start)
        self.motion_until = max(self.motion_until, until)

    def decide(self, t: float, keyframe: bool) -> Action:
        if self.clip_start is None:
            if self.pending_start is None or t < self.start_from:
                return Action.IDLE
            return Action.START  # if neither the pre-roll nor this packet can start a copy, ask again
        if t - self.clip_start < self.clip_seconds or (self.cut_on_keyframe and not keyframe):
            return Action.WRITE
        if self.motion_until > t:
            return Action.CUT
        return Action.FINISH

    def started(self, at: float) -> None:
        """The caller opened a clip whose first packet is at ``at``."""
        self.clip_start, self.pending_start = at, None

    def cut(self, t: float) -> None:
        self.last_end, self.clip_start = t, t

    def finished(self, t: float) -> None:
        self.last_end, self.clip_start = t, None

    def reset(self) -> None:
        """A new connection: its clock starts again at zero."""
        self.clip_start, self.pending_start = None, None
        self.last_end, self.motion_until = -math.inf, -math.inf


@dataclass
class SegmentPlanner:
    """Continuous recording: back-to-back segments of about ``seconds``. Each starts on a keyframe
    (stream copy) and is cut before the first keyframe past its length, which starts the next:
    every packet is in exactly one segment. Measured on stream time, so a wall clock that jumps
    never makes a segment short or endless."""

    seconds: float
    start: float | None = None  # of the segment being written

    def decide(self, t: float, keyframe: bool) -> Action:
        if self.start is None:
            return Action.START if keyframe else Action.IDLE
        if keyframe and t - self.start >= self.seconds:
            return Action.CUT
        return Action.WRITE

    def started(self, at: float) -> None:
        self.start = at

    def stopped(self) -> None:
        """The segment ended (cut, camera lost, recording switched off): the next keyframe starts one."""
        self.start = None


class PreRoll(Generic[T]):
    """The last few seconds of packets, from a keyframe on, so a clip can start before the motion did.

    Keeps whole groups of pictures: the oldest kept keyframe is the newest one at least
    ``seconds`` old. ``limit`` bounds memory when a camera sends keyframes rarely.
    """

    def __init__(self, seconds: float, limit: int = 5000) -> None:
        self.seconds = seconds
        self.items: deque[T] = deque()
        self._keyframe_times: deque[float] = deque()  # of the keyframes in ``items``, in order
        self.limit = limit

    def add(self, item: T) -> None:
        """Amortised O(1): called for every packet of every camera."""
        self.items.append(item)
        if item.keyframe:
            self._keyframe_times.append(item.time)
        horizon = item.time - self.seconds
        # drop what comes before the next keyframe while that one is old enough to start from
        while len(self.items) > 1:
            after_head = 1 if self.items[0].keyframe else 0  # the head may be a group cut by ``limit``
            if len(self._keyframe_times) <= after_head or self._keyframe_times[after_head] > horizon:
                break
            self._pop()
            while not self.items[0].keyframe:
                self._pop()
        while len(self.items) > self.limit:
            self._pop()

    def _pop(self) -> None:
        if self.items.popleft().keyframe:
            self._keyframe_times.popleft()

    def clear(self) -> None:
        self.items.clear()
        self._keyframe_times.clear()

    def last_group(self) -> Sequence[T]:
        """The newest keyframe and what came after it: all a decoder needs to resume mid-group."""
        return self.since(math.inf, -math.inf)

    def since(self, start: float, not_before: float) -> Sequence[T]:
        """Packets for a clip that should start at ``start``: from the last keyframe at or before it
        (or the first one after, if none), never from before ``not_before``."""
        usable = [i for i, x in enumerate(self.items) if x.keyframe and x.time >= not_before]
        if not usable:
            return []
        before = [i for i in usable if self.items[i].time <= start]
        first = before[-1] if before else usable[0]
        return list(self.items)[first:]


def opening(preroll: PreRoll[T], planner: ClipPlanner, item: T, *, copy: bool) -> tuple[list[T], float] | None:
    """What a new clip for the pending event is written from: the pre-roll from the keyframe at or
    before ``planner.start_from``, then ``item``; and the clip's
    start. A copied stream starts on that keyframe; an encoded one exactly at ``start_from`` (the
    pictures before it only prime the decoder). None: a copy must begin on a keyframe and none is
    at hand yet, so the event waits for the next one."""
    # an encoded clip may decode from a keyframe inside the last clip: those pictures only prime the
    # decoder; a copy starting there would repeat the last clip's end
    earlier = list(preroll.since(planner.start_from, planner.last_end if copy else -math.inf))
    if copy and not earlier and not item.keyframe:
        return None
    first = earlier[0] if earlier else item
    start = first.time if copy else max(planner.start_from, first.time)
    return [*earlier, item], start
