"""One camera: a reader thread that keeps the connection alive (two, with a sub-stream for
detection), a worker thread that detects motion in the newest frame, and a recorder thread that
writes clips from every packet.

The readers never wait on anyone: the worker gets the newest frame through a one-slot hand-off
(an untaken frame is replaced), so it never works on a backlog; the recorder gets every packet
through a bounded queue. All beat a heartbeat the supervisor watches.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcam import bus, layout, logs, overlay, snapshots, threads
from vcam.bus import Bus
from vcam.config import CameraConfig
from vcam.frames import Connection, Frame
from vcam.live import Controls, LiveView
from vcam.motion import (
    Box,
    Detection,
    EventChange,
    EventTracker,
    IdlePolicy,
    MotionDetector,
    MotionEvent,
    shapes_outside,
    steps_between,
)
from vcam.reader import Rate, StreamReader
from vcam.recorder import Recorder, SavedClip
from vcam.schedule import Every
from vcam.source import connect

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
    events: int  # motion events started
    recorder_backlog: int  # packets queued for the recorder
    recording: bool  # a clip is being written
    clips_saved: int
    bytes_written: int  # of the clips saved
    last_clip: str | None  # file name of the newest saved clip


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
        controls: Controls | None = None,
        live: LiveView | None = None,
    ) -> None:
        self.camera = camera
        self.controls = controls or Controls()  # the UI's switches: read at each picture
        self.live = live or LiveView.of(camera)
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
            detection_lag=camera.motion.idle_max_gop if camera.motion.idle_decode == "keyframes" else 0.0,
            clock=clock,  # its heartbeat is compared with the pipeline's
            allowed=lambda: self.controls.record,
        )
        self.snapshots = Every(camera.snapshot_interval)
        self._threads: list[threading.Thread] = []
        self._reader_threads: list[threading.Thread] = []
        self._worker: threading.Thread | None = None
        # With a sub-stream, the main stream is only recorded (never decoded by its reader) and
        # the sub-stream only detected; otherwise one reader does both.
        sub = camera.detect_url
        self.readers = [
            StreamReader(
                camera,
                "main",
                self.log,
                self.stopping,
                connector=connector,
                clock=clock,
                publish=self._publish,
                recorder=self.recorder,
                on_frame=None if sub else self._picture,
            )
        ]
        if sub:
            self.readers.append(
                StreamReader(
                    dataclasses.replace(camera, url=sub),
                    "detect",
                    self.log.bind(stream="detect"),
                    self.stopping,
                    connector=connector,
                    clock=clock,
                    publish=self._publish,
                    on_frame=self._picture,
                )
            )
        self._detecting = self.readers[-1]  # the reader whose pictures the worker analyses
        self.live.on_watch = self._wake
        self._analysed = 0
        self._events_started = 0
        self._fps_analysed = Rate(clock)
        self._worker_beat = clock()
        self._started_at = clock()
        self._snapshot_error: str | None = None
        # worker state: only the worker thread touches these
        self._detector: MotionDetector | None = None
        self._analysed_at: float | None = None  # stream time of the last analysed picture
        self._idle = IdlePolicy(camera.motion.idle_decode == "keyframes")
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
        self._worker_beat = self._started_at = self.clock()
        for reader in self.readers:
            reader.beat = self._started_at
        self.recorder.start()
        for reader in self.readers:
            role = "reader" if reader.stream == "main" else "subreader"
            self._reader_threads.append(self._thread(role, reader.run))
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

    def record_now(self) -> None:
        """A clip on demand (MQTT's record/set): recorded as if motion were seen now, so it holds
        the PRE_SECONDS before and lasts CLIP_SECONDS."""
        now = time.time()
        self.recorder.motion_at(now, now + 1.0)
        self.log.info("record_requested")

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
        grace = min(deadline, time.monotonic() + READER_GRACE_S)
        for thread in self._reader_threads:
            thread.join(max(0.0, grace - time.monotonic()))
        return not self.alive()

    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads) or self.recorder.alive()

    def dead_threads(self) -> list[str]:
        dead = [t.name for t in self._threads if not t.is_alive()]
        return dead if self.recorder.alive() else [*dead, f"{self.camera.name}-recorder"]

    def stats(self) -> CameraStats:
        """Streaming means every stream of the camera is (a camera whose sub-stream is down
        records nothing, having no motion to go by)."""
        now = self.clock()
        readers = self.readers
        connected = all(r.connected for r in readers)
        state = "streaming" if connected else "down" if any(r.ever_connected for r in readers) else "connecting"
        seen = self._detecting.last_frame_at
        return CameraStats(
            camera=self.camera.name,
            state=state,
            connected=connected,
            frames=sum(r.frames for r in readers),
            analysed=self._analysed,
            fps_in=round(self._detecting.fps.current(), 2),
            fps_analysed=round(self._fps_analysed.current(), 2),
            dropped=self.latest.dropped,
            packets_dropped=self.recorder.dropped,
            reconnects=sum(r.reconnects for r in readers),
            last_frame_age=None if seen is None else now - seen,
            reader_beat_age=max(now - r.beat for r in readers),
            worker_beat_age=max(now - self._worker_beat, now - self.recorder.beat),
            last_error=next((r.last_error for r in readers if not r.connected and r.last_error), None),
            running_for=now - self._started_at,
            motion=self._events.active is not None,
            events=self._events_started,
            recorder_backlog=self.recorder.queue.qsize(),
            recording=self.recorder.recording,
            clips_saved=self.recorder.saved,
            bytes_written=self.recorder.bytes_saved,
            last_clip=self.recorder.last_clip,
        )

    def _picture(self, frame: Frame) -> None:
        """On the reader's thread: the newest picture to the worker, and to the live view."""
        self.latest.put(frame)
        self.live.offer(frame)

    def _wake(self) -> None:
        """Someone watches: every picture is decoded, not only keyframes."""
        self._detecting.idle = False

    def _publish(self, event: bus.Event) -> None:
        if self.bus is not None:
            self.bus.publish(event)

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
        controls = self.controls
        if not controls.detect:
            self._not_detecting()
        elif self._gate.due(frame.time):
            assert self._detector is not None
            since = frame.time - self._analysed_at if self._analysed_at is not None else 0.0
            detection = self._detector.detect(frame.gray(), steps_between(since, self.camera.motion.detect_fps))
            self._analysed_at = frame.time
            self._analysed += 1
            self._fps_analysed.add()
            self._boxes = detection.boxes
            moving = detection.area >= self.camera.motion.min_area
            change = self._events.update(frame.time, frame.index, frame.wall, detection, moving)
            if change is not None:
                self._on_event(change, frame, detection)
            active = self._events.active
            # nothing moves: the reader may decode keyframes only; a moving one wakes it at once
            idle = self._idle.idle(frame.time, moving, active is not None)
            self._detecting.idle = idle and not self.live.watched
            if active is not None and controls.record:
                until = active.last_motion + self.camera.motion.post_seconds
                if self._detecting is self.readers[0]:  # the recorded stream itself: one timeline
                    self.recorder.motion(frame.connection, active.start, until)
                    self.recorder.outline(detection.boxes, frame.time)
                else:  # a sub-stream's times mean nothing to the main stream: epoch seconds do
                    self.recorder.motion_at(active.start_wall, frame.wall + until - frame.time)
                    self.recorder.outline_at(detection.boxes, frame.wall, frame.width, frame.height)
            if active is not None and self._progress.due(self.clock()):
                self._log_progress(active)
        if controls.snapshots and self.snapshots.due(self.clock()):
            path = layout.snapshot_path(self.video_dir, self.camera.name, frame.wall)
            if self._save_snapshot(path, frame, self._boxes):
                self._publish(bus.SnapshotSaved(self.camera.name, path, frame.wall))

    def _not_detecting(self) -> None:
        """Detection switched off: an open event ends at the last picture; keyframes will do."""
        ended = self._events.finish(self._last_time, self._last_index)
        if ended is not None:
            self._log_end(ended)
            self._boxes = ()
        self._detecting.idle = self.camera.motion.idle_decode == "keyframes" and not self.live.watched

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
        self._analysed_at = None
        self._idle.reset()
        self._detecting.idle = False
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
        self._events_started += 1
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
        """Called on the recorder's publisher thread, for clips and continuous segments."""
        name = self.camera.name
        if clip.segment:
            self._publish(bus.SegmentSaved(name, clip.path, clip.start, clip.duration, clip.size, clip.partial))
        else:
            self._publish(bus.ClipSaved(name, clip.path, clip.start, clip.duration, clip.size, clip.mode, clip.partial))
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
