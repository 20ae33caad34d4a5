"""One camera: a reader thread that keeps the connection alive, a worker thread that detects motion
in the newest frame, and a recorder thread that writes clips from every packet.

The reader never waits on anyone: the worker gets the newest frame through a one-slot hand-off
(an untaken frame is replaced), so it never works on a backlog; the recorder gets every packet
through a bounded queue. All three beat a heartbeat the supervisor watches.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcam import backoff, bus, camera_url, layout, logs, overlay, snapshots, threads
from vcam.bus import Bus
from vcam.config import CameraConfig
from vcam.errors import ENDED, TCP_LEVEL, SourceError
from vcam.frames import Connection, Frame, StreamInfo
from vcam.motion import Box, Detection, EventChange, EventTracker, MotionDetector, MotionEvent, shapes_outside
from vcam.recorder import Closed, Opened, Recorder, SavedClip
from vcam.schedule import Every
from vcam.source import connect, tcp_reachable

PROBE_INTERVAL_S = 0.5  # while a camera's port is closed, how often to check whether it is back
WORKER_WAIT_S = 0.5
READER_GRACE_S = 1.0
EVENT_PROGRESS_S = 2.0  # how often an open event's last motion is saved: a kill loses at most this


class LatestFrame:
    """A one-slot hand-off: put() replaces what the taker has not taken yet, and counts it as dropped.

    The taker may say which frame it waits for (one from ``connection`` at stream time ``at`` or
    later, or from another connection): it is woken for that frame only, not for each one before
    it. Waking for every frame cost as much CPU as the analysis; waking before the due frame and
    handing over the ones in between, a fifth of the worker's CPU (0.48 -> 0.39 s a minute idle)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._wanted: tuple[int, float] | None = None
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            if self._ready():
                self._cond.notify()

    def take(self, timeout: float, wanted: tuple[int, float] | None = None) -> Frame | None:
        """The newest frame once the wanted one has come; after ``timeout``, whatever is newest."""
        with self._cond:
            self._wanted = wanted
            self._cond.wait_for(self._ready, timeout)
            self._wanted = None
            frame, self._frame = self._frame, None
            return frame

    def _ready(self) -> bool:
        frame, wanted = self._frame, self._wanted
        if frame is None or wanted is None:
            return frame is not None
        connection, at = wanted
        return frame.connection != connection or frame.time >= at


@dataclass(frozen=True)
class CameraStats:
    """One camera at one moment, read without a lock from fields its threads keep (each written by
    one thread only): what the supervisor, STATUS=, the health file, metrics and the UI show."""

    camera: str
    state: str  # "streaming", "connecting" (never streamed yet) or "down"
    connected: bool
    frames: int  # pictures decoded since start
    analysed: int  # pictures the detector looked at
    fps_in: float  # pictures a second, over the last few seconds
    fps_analysed: float
    dropped: int  # pictures the worker never took (it takes only the newest)
    packets_dropped: int  # packets the recorder could not take (it fell far behind)
    reconnects: int
    last_frame_age: float | None  # seconds since the newest frame, None before the first
    running_for: float  # seconds since the pipeline started
    reader_beat_age: float
    worker_beat_age: float
    last_error: str | None
    motion: bool  # an event is open
    recording: bool  # a clip is being written
    clips_saved: int
    bytes_written: int  # of the clips saved
    last_clip: str | None  # file name of the newest saved clip


RATE_WINDOW_S = 5.0  # frames a second are counted over this long


class Rate:
    """Events a second over the last window; updated by one thread, read by any."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.value = 0.0
        self._since = clock()
        self._count = 0

    def add(self, count: int = 1) -> None:
        self._count += count
        now = self.clock()
        if now - self._since >= RATE_WINDOW_S:
            self.value = self._count / (now - self._since)
            self._since, self._count = now, 0

    def current(self) -> float:
        """The rate, or 0 once nothing has come for a whole window."""
        return self.value if self.clock() - self._since < 2 * RATE_WINDOW_S else 0.0


class Pipeline:
    """Source -> latest frame -> snapshots (and, as they land, motion detection and recording)."""

    def __init__(
        self,
        camera: CameraConfig,
        video_dir: Path,
        temp_dir: Path,
        log: Any,
        *,
        connector: Callable[[CameraConfig], Connection] = connect,
        clock: Callable[[], float] = time.monotonic,
        bus: Bus | None = None,
        make_room: Callable[[], int] | None = None,
        on_clip: Callable[[SavedClip], None] | None = None,
    ) -> None:
        self.camera = camera
        self.video_dir = video_dir
        self.log = log.bind(camera=camera.name)
        self.connector = connector
        self.clock = clock
        self.stopping = threading.Event()
        self.latest = LatestFrame()
        self.bus = bus  # what happens is published there (the event log and notifiers subscribe)
        self.on_clip = on_clip
        self.recorder = Recorder(
            camera.name,
            camera.record,
            video_dir,
            temp_dir,
            self.log,
            on_saved=self._clip_saved,
            make_room=make_room,
            clock=clock,  # its heartbeat is compared with the pipeline's
        )
        self.snapshots = Every(camera.snapshot_interval)
        self._threads: list[threading.Thread] = []
        self._reader: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._connected = False
        self._ever_connected = False
        self._frames = 0
        self._analysed = 0
        self._bytes_written = 0
        self._fps_in = Rate(clock)
        self._fps_analysed = Rate(clock)
        self._reconnects = 0
        self._last_frame_at: float | None = None
        self._reader_beat = clock()
        self._worker_beat = clock()
        self._started_at = clock()
        self._last_error: str | None = None
        self._lagging_s = 0.0  # time spent decoding keyframes only to catch up
        self._snapshot_error: str | None = None
        self._connection = 0  # counts connections; frames carry it so the worker sees a reconnect
        # worker state: only the worker thread touches these
        self._detector: MotionDetector | None = None
        self._worker_connection = -1
        self._gate = Every(1 / camera.motion.detect_fps)
        self._events = EventTracker(camera.motion.min_frames, camera.motion.post_seconds)
        self._boxes: tuple[Box, ...] = ()
        self._last_time = 0.0
        self._last_index = 0
        self._progress = Every(EVENT_PROGRESS_S)
        self._picture_size = (0, 0)

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._reader_beat = self._worker_beat = self._started_at = self.clock()
        self.recorder.start()
        self._reader = self._thread("reader", self._read_loop)
        self._worker = self._thread("worker", self._work_loop)

    def _thread(self, role: str, target: Callable[[], None]) -> threading.Thread:
        thread = threads.start(f"{self.camera.name}-{role}", lambda: self._guarded(target))
        self._threads.append(thread)
        return thread

    def _guarded(self, target: Callable[[], None]) -> None:
        """A thread that dies says why in the log; the supervisor then replaces the pipeline."""
        try:
            target()
        except Exception as exc:
            self.log.exception(
                "thread_crashed", thread=threading.current_thread().name, error=f"{type(exc).__name__}: {exc}"
            )

    def request_stop(self) -> None:
        self.stopping.set()
        self.recorder.stop()

    def join(self, deadline: float) -> bool:
        """Wait for the threads until ``deadline`` (monotonic); True if they ended.

        The reader holds nothing worth saving, only a socket the OS closes on exit, so it gets
        a short grace: a reader stuck in a read on a frozen camera must not hold up shutdown.
        """
        self.recorder.join(deadline)
        if self._worker is not None:
            self._worker.join(max(0.0, deadline - time.monotonic()))
        if self._reader is not None:
            self._reader.join(max(0.0, min(deadline, time.monotonic() + READER_GRACE_S) - time.monotonic()))
        return not self.alive()

    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads) or self.recorder.alive()

    def dead_threads(self) -> list[str]:
        dead = [t.name for t in self._threads if not t.is_alive()]
        return dead if self.recorder.alive() else [*dead, f"{self.camera.name}-recorder"]

    def stats(self) -> CameraStats:
        now = self.clock()
        state = "streaming" if self._connected else "down" if self._ever_connected else "connecting"
        return CameraStats(
            camera=self.camera.name,
            state=state,
            connected=self._connected,
            frames=self._frames,
            analysed=self._analysed,
            fps_in=round(self._fps_in.current(), 2),
            fps_analysed=round(self._fps_analysed.current(), 2),
            dropped=self.latest.dropped,
            packets_dropped=self.recorder.dropped,
            reconnects=self._reconnects,
            last_frame_age=None if self._last_frame_at is None else now - self._last_frame_at,
            reader_beat_age=now - self._reader_beat,
            worker_beat_age=max(now - self._worker_beat, now - self.recorder.beat),
            last_error=self._last_error,
            running_for=now - self._started_at,
            motion=self._events.active is not None,
            recording=self.recorder.recording,
            clips_saved=self.recorder.saved,
            bytes_written=self._bytes_written,
            last_clip=self.recorder.last_clip,
        )

    def _publish(self, event: bus.Event) -> None:
        if self.bus is not None:
            self.bus.publish(event)

    # --- reader -----------------------------------------------------------------------------

    def _read_loop(self) -> None:
        failures = 0
        last_reason: str | None = None
        down_since: float | None = None
        self.log.info("camera_connecting", url=camera_url.mask(self.camera.url))
        while not self.stopping.is_set():
            self._reader_beat = self.clock()
            started = self.clock()
            try:
                connection = self.connector(self.camera)
            except SourceError as exc:
                failure = exc
            else:
                self._connection += 1
                frames_before = self._frames
                lost = self._stream(connection, started, failures, down_since)
                if lost is None:
                    break  # asked to stop
                if self._frames > frames_before:  # it streamed, then dropped: try again soon
                    failures, last_reason, down_since = 1, lost.reason, self.clock()
                    self._reconnects += 1
                    self._last_error = f"{lost.reason}: {lost.detail}"
                    self.log.warning(
                        "camera_lost", reason=lost.reason, error=lost.detail, retry_in=self.camera.reconnect_delay
                    )
                    self._publish(bus.CameraLost(self.camera.name, time.time(), lost.reason, lost.detail))
                    self._wait_before_retry(self.camera.reconnect_delay, probe=False)
                    continue
                failure = lost  # connected, but not one picture came: a failed attempt like any other
            failures += 1
            down_since = down_since if down_since is not None else started
            delay = backoff.delay(
                failures, self.camera.reconnect_delay, self.camera.reconnect_max_delay, random.random()
            )
            if failure.reason != last_reason or backoff.worth_logging(failures):
                self.log.warning(
                    "camera_unavailable",
                    reason=failure.reason,
                    error=failure.detail,
                    failures=failures,
                    retry_in=round(delay, 1),
                )
            if failures == 1:  # down from the start: said once for the spell, as a lost camera is
                self._publish(bus.CameraLost(self.camera.name, time.time(), failure.reason, failure.detail))
            last_reason = failure.reason
            self._last_error = f"{failure.reason}: {failure.detail}"
            self._wait_before_retry(delay, probe=failure.reason in TCP_LEVEL)
        self.log.info(
            "reader_stopped",
            frames=self._frames,
            keyframes_only_s=round(self._lagging_s, 1),
            reconnects=self._reconnects,
        )

    def _stream(
        self, connection: Connection, started: float, failures: int, down_since: float | None
    ) -> SourceError | None:
        """Read until the connection fails (returns why) or we are asked to stop (None)."""
        first = True
        lagging, lagging_since = False, 0.0
        number = self._connection
        described = connection.info
        self.recorder.feed(Opened(number, described, connection.template, connection.audio))
        try:
            for chunk in connection.chunks():
                now = self.clock()
                self._reader_beat = now
                if connection.info != described:  # reconfigured mid-stream: as if it had reconnected
                    number = self._changed(number, described, connection)
                    described = connection.info
                self.recorder.feed(chunk)
                if not chunk.frames:
                    continue
                self._last_frame_at = now
                self._frames += len(chunk.frames)
                self._fps_in.add(len(chunk.frames))
                if first:
                    first = False
                    self._connected = True
                    self._ever_connected = True
                    self._log_connected(connection, now - started, failures, down_since)
                if connection.lagging != lagging:
                    lagging = connection.lagging
                    if lagging:
                        lagging_since = now
                        self.log.warning("decoding_behind", keyframes_only=True)
                    else:
                        self._lagging_s += now - lagging_since
                        self.log.info("decoding_caught_up", keyframes_only=False)
                self.latest.put(dataclasses.replace(chunk.frames[-1], connection=number))
                if self.stopping.is_set():
                    return None
            return SourceError(ENDED, "the stream ended")
        except SourceError as exc:
            return exc
        except Exception as exc:  # a bug or an unforeseen library error: log it, reconnect, keep going
            self.log.exception("reader_error", error=camera_url.mask(f"{type(exc).__name__}: {exc}"))
            return SourceError("error", f"{type(exc).__name__}")
        finally:
            self._connected = False
            self.recorder.feed(Closed(number))
            connection.close()

    def _changed(self, number: int, before: StreamInfo, connection: Connection) -> int:
        """The camera changed its picture without a reconnect: the clip so far is closed (no clip
        mixes two picture sizes), and what follows counts as a new connection, for which the
        detector learns the scene afresh. Returns the new connection number."""
        info = connection.info
        self.log.warning(
            "camera_changed", before=f"{before.width}x{before.height}", after=f"{info.width}x{info.height}"
        )
        self.recorder.feed(Closed(number))
        self._connection += 1
        self.recorder.feed(Opened(self._connection, info, connection.template, connection.audio))
        return self._connection

    def _log_connected(self, connection: Connection, took: float, failures: int, down_since: float | None) -> None:
        info = connection.info
        extra = {} if down_since is None else {"failures": failures, "downtime_s": round(self.clock() - down_since, 1)}
        self.log.info(
            "camera_connected",
            codec=info.codec,
            width=info.width,
            height=info.height,
            fps=info.fps,
            **({"transport": info.transport} if info.transport else {}),
            first_frame_s=round(took, 2),
            **extra,
        )
        self._publish(
            bus.CameraConnected(
                self.camera.name, time.time(), info.codec, info.width, info.height, info.fps, info.transport, info.audio
            )
        )

    def _wait_before_retry(self, delay: float, *, probe: bool) -> None:
        """Sleep ``delay`` (waking for stop); if the port was closed, retry as soon as it opens."""
        deadline = self.clock() + delay
        while not self.stopping.is_set():
            self._reader_beat = self.clock()
            left = deadline - self._reader_beat
            if left <= 0:
                return
            if self.stopping.wait(min(left, PROBE_INTERVAL_S)):
                return
            if probe and tcp_reachable(self.camera.url):
                return

    # --- worker -----------------------------------------------------------------------------

    def _work_loop(self) -> None:
        while not self.stopping.is_set():
            self._worker_beat = self.clock()
            # Frames before the next analysis would only be looked at and dropped: wait for the
            # one that is due. At least every WORKER_WAIT_S the newest is handled anyway (snapshots).
            due = self._gate.due_from
            wanted = None if due is None else (self._worker_connection, due)
            frame = self.latest.take(WORKER_WAIT_S, wanted)
            if frame is None:
                continue
            try:
                self._handle(frame)
            except Exception as exc:  # keep the camera running whatever one frame does
                self.log.exception("worker_error", error=f"{type(exc).__name__}: {exc}")
        ended = self._events.finish(self._last_time, self._last_index)  # an event open at stop ends here
        if ended is not None:
            self._log_end(ended)
        self.log.info("worker_stopped")

    def _handle(self, frame: Frame) -> None:
        if frame.connection != self._worker_connection:
            self._new_connection(frame)
        self._last_time, self._last_index = frame.time, frame.index
        if self._gate.due(frame.time):
            assert self._detector is not None
            detection = self._detector.detect(frame.gray())
            self._analysed += 1
            self._fps_analysed.add()
            self._boxes = detection.boxes
            moving = detection.area >= self.camera.motion.min_area
            change = self._events.update(frame.time, frame.index, frame.wall, detection, moving)
            if change is not None:
                self._on_event(change, frame, detection)
            active = self._events.active
            if active is not None:
                until = active.last_motion + self.camera.motion.post_seconds
                self.recorder.motion(frame.connection, active.start, until)
                self.recorder.outline(detection.boxes, frame.time)
                if self._progress.due(self.clock()):
                    self._log_progress(active)
        if self.snapshots.due(self.clock()):
            path = layout.snapshot_path(self.video_dir, self.camera.name, frame.wall)
            if self._save_snapshot(path, frame, self._boxes):
                self._publish(bus.SnapshotSaved(self.camera.name, path, frame.wall))

    def _new_connection(self, frame: Frame) -> None:
        """A reconnect: close any open event where the old stream ended, learn the scene afresh."""
        ended = self._events.finish(self._last_time, self._last_index)
        if ended is not None:
            self._log_end(ended)
        self._worker_connection = frame.connection
        if (frame.width, frame.height) != self._picture_size:
            self._picture_size = (frame.width, frame.height)
            for problem in shapes_outside(self.camera.motion, frame.width, frame.height):
                self.log.warning("motion_shape_outside", problem=problem)
        self._detector = MotionDetector(self.camera.motion, frame.width, frame.height)
        self._gate = Every(1 / self.camera.motion.detect_fps)
        self._boxes = ()

    def _on_event(self, change: EventChange, frame: Frame, detection: Detection) -> None:
        if change.kind == "ended":
            self._log_end(change)
            self._boxes = ()
            return
        event = change.event
        path = layout.event_snapshot_path(self.video_dir, self.camera.name, event.start_wall)
        saved = self._save_snapshot(path, frame, detection.boxes)
        rects = tuple((b.x, b.y, b.w, b.h) for b in detection.boxes)
        area = round(detection.area, 2)
        self._publish(bus.MotionStarted(self.camera.name, event.start_wall, area, rects, path if saved else None))
        self._progress = Every(EVENT_PROGRESS_S)
        self._progress.due(self.clock())  # the first progress is due a whole interval from now
        self.log.info(
            "motion_started",
            start=logs.local_iso(event.start_wall),
            area=round(detection.area, 2),
            boxes=len(detection.boxes),
            snapshot=str(path) if saved else None,
        )

    def _log_progress(self, event: MotionEvent) -> None:
        last = event.start_wall + event.last_motion - event.start
        self._publish(bus.MotionProgress(self.camera.name, event.start_wall, last, event.peak_area))

    def _log_end(self, change: EventChange) -> None:
        event = change.event
        end = event.start_wall + event.duration
        self._publish(bus.MotionEnded(self.camera.name, event.start_wall, end, event.peak_area))
        self.log.info(
            "motion_ended",
            end=logs.local_iso(event.start_wall + event.duration),
            duration_s=round(event.duration, 1),
            peak_area=round(event.peak_area, 2),
            moving_frames=event.moving_frames,
        )

    def _clip_saved(self, clip: SavedClip) -> None:
        """Called on the recorder's publisher thread."""
        self._bytes_written += clip.size
        self._publish(
            bus.ClipSaved(self.camera.name, clip.path, clip.start, clip.duration, clip.size, clip.mode, clip.partial)
        )
        if self.on_clip is not None:
            self.on_clip(clip)

    def _save_snapshot(self, path: Path, frame: Frame, boxes: tuple[Box, ...]) -> bool:
        picture = overlay.annotate(frame.bgr(), boxes, overlay.label(self.camera.name, frame.wall))
        try:
            snapshots.save_jpeg(path, picture, root=self.video_dir)
        except OSError as exc:
            error = f"{exc.strerror or exc} ({path.parent})"
            if error != self._snapshot_error:
                self.log.error("snapshot_failed", error=error)
            self._snapshot_error = error
            return False
        if self._snapshot_error is not None:
            self.log.info("snapshot_recovered", path=str(path))
            self._snapshot_error = None
        self.log.debug("snapshot_saved", path=str(path))
        return True
