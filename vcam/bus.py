"""What the stages tell each other: frozen events, published by the pipelines and the storage keeper,
and a bounded queue per subscriber (the event log now; notifications, metrics and the web UI next).

Publishing never waits: a subscriber whose queue is full loses the event, which is counted and said
once per spell of dropping. A slow or dead consumer can never slow a camera.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcam import threads

Rect = tuple[int, int, int, int]  # x, y, w, h in full-frame pixels (a motion.Box)


@dataclass(frozen=True)
class CameraConnected:
    camera: str
    at: float  # epoch seconds
    codec: str
    width: int
    height: int
    fps: float | None
    transport: str | None
    audio: str | None
    stream: str = "main"  # or "detect": the sub-stream motion is analysed on (DETECT_URL)


@dataclass(frozen=True)
class CameraLost:
    """The camera stopped giving pictures (it had been streaming), or could not be reached at first."""

    camera: str
    at: float
    reason: str
    detail: str
    stream: str = "main"


@dataclass(frozen=True)
class MotionStarted:
    camera: str
    start: float  # epoch seconds of the event's first moving frame; with ``camera``, the event's key
    area: float  # percent of the watched area
    boxes: tuple[Rect, ...]
    snapshot: Path | None  # the outlined picture, if it could be saved


@dataclass(frozen=True)
class MotionProgress:
    """An open event's last motion so far: where it ends if the daemon is killed before it does."""

    camera: str
    start: float
    last_motion: float
    peak_area: float


@dataclass(frozen=True)
class MotionEnded:
    camera: str
    start: float
    end: float
    peak_area: float


@dataclass(frozen=True)
class ClipSaved:
    camera: str
    path: Path
    start: float  # epoch seconds of its first frame
    duration: float
    size: int
    mode: str  # annotated, passthrough, recovered
    partial: bool


@dataclass(frozen=True)
class SegmentSaved:
    """A continuous segment (RECORD=continuous or both) is in VIDEO_DIR."""

    camera: str
    path: Path
    start: float  # epoch seconds of its first frame
    duration: float
    size: int
    partial: bool


@dataclass(frozen=True)
class SnapshotSaved:
    camera: str
    path: Path
    at: float


@dataclass(frozen=True)
class FilesDeleted:
    """Retention removed these files (clips, segments, snapshots) for ``reason`` (age, max_storage, min_free)."""

    paths: tuple[Path, ...]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class StorageLow:
    """A storage limit cannot be met by deleting (``missing`` bytes short), or is met again (0)."""

    limit: str
    missing: int


@dataclass(frozen=True)
class SwitchChanged:
    """A camera's detect, record or snapshots switch was set (from the UI, the API or MQTT)."""

    camera: str
    switch: str
    on: bool
    by: str  # the user, or "mqtt"


Event = (
    CameraConnected
    | CameraLost
    | MotionStarted
    | MotionProgress
    | MotionEnded
    | ClipSaved
    | SegmentSaved
    | SnapshotSaved
    | FilesDeleted
    | StorageLow
    | SwitchChanged
)

TICK_S = 1.0
QUEUE_SIZE = 1000  # events a subscriber may fall behind by (a few minutes of a busy camera)


class _Wake:
    """Put in a queue at stop so that its consumer need not wait out its poll."""


WAKE = _Wake()


class Subscription:
    """One consumer's queue. ``dropped`` counts what it lost while it was full."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.queue: queue.Queue[Event | _Wake] = queue.Queue(maxsize=size)
        self.dropped = 0
        self.dropping = False

    def get(self, timeout: float) -> Event | None:
        try:
            event = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        return None if isinstance(event, _Wake) else event


class Bus:
    def __init__(self, log: Any) -> None:
        self.log = log
        self._subscriptions: tuple[Subscription, ...] = ()
        self._lock = threading.Lock()
        self.published = 0

    def subscribe(self, name: str, size: int = QUEUE_SIZE) -> Subscription:
        subscription = Subscription(name, size)
        with self._lock:
            self._subscriptions = (*self._subscriptions, subscription)
        return subscription

    def publish(self, event: Event) -> None:
        """Never blocks: a full queue drops the event for that subscriber alone."""
        self.published += 1
        for subscription in self._subscriptions:
            try:
                subscription.queue.put_nowait(event)
            except queue.Full:
                subscription.dropped += 1
                if not subscription.dropping:
                    subscription.dropping = True
                    self.log.error("subscriber_behind", subscriber=subscription.name, dropped=subscription.dropped)
            else:
                if subscription.dropping:
                    subscription.dropping = False
                    self.log.info("subscriber_caught_up", subscriber=subscription.name, dropped=subscription.dropped)


class Consumer:
    """A subscriber's own thread: takes events from its queue and hands each to ``handle``, and
    calls ``tick`` about once a second (for what is due with time, not with an event). At stop it
    works off what is already queued (for at most ``drain_s``), so the last events of a clean stop
    (an event's end, the last clip) still arrive."""

    def __init__(
        self,
        subscription: Subscription,
        handle: Callable[[Event], None],
        log: Any,
        *,
        drain_s: float = 2.0,
        tick: Callable[[], None] | None = None,
    ) -> None:
        self.subscription = subscription
        self.handle = handle
        self.tick = tick
        self.log = log
        self.drain_s = drain_s
        self.handled = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threads.start(f"bus-{self.subscription.name}", self._run)

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Full):  # a full queue: the consumer is busy and sees the flag soon
            self.subscription.queue.put_nowait(WAKE)

    def join(self, deadline: float) -> bool:
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            return not self._thread.is_alive()
        return True

    def _run(self) -> None:
        ticked = time.monotonic()
        while not self._stop.is_set():
            event = self.subscription.get(0.5)
            if event is not None:
                self._guarded(event)
            if self.tick is not None and time.monotonic() - ticked >= TICK_S:
                ticked = time.monotonic()
                self._guarded(self.tick)
        until = time.monotonic() + self.drain_s
        while time.monotonic() < until:
            try:
                queued = self.subscription.queue.get_nowait()
            except queue.Empty:
                return
            if not isinstance(queued, _Wake):
                self._guarded(queued)

    def _guarded(self, work: Event | Callable[[], None]) -> None:
        """A consumer outlives anything one event (or tick) does to it."""
        try:
            if callable(work):
                work()
            else:
                self.handle(work)
                self.handled += 1
        except Exception as exc:
            self.log.exception(
                "subscriber_error", subscriber=self.subscription.name, error=f"{type(exc).__name__}: {exc}"
            )
