"""The pipeline and supervisor driven by fake connections: real threads, no camera."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
import synthetic
from conftest import wait_until

from vcam import config
from vcam.bus import Bus, ClipSaved, MotionEnded, MotionStarted
from vcam.decoding import GopMeter
from vcam.demo import SyntheticConnection
from vcam.errors import REFUSED, STALLED, UNAUTHORIZED, SourceError
from vcam.frames import AudioTrack, Chunk, Frame, StreamInfo, StreamTemplate
from vcam.pipeline import LatestFrame, Pipeline
from vcam.supervisor import Supervisor


class RecordingLog:
    """Keeps (level, event, fields) of every call; bind() shares the record."""

    def __init__(self, records: list[tuple[str, str, dict[str, Any]]] | None = None, **context: Any) -> None:
        self.records = [] if records is None else records
        self.context = context

    def bind(self, **context: Any) -> RecordingLog:
        return RecordingLog(self.records, **{**self.context, **context})

    def _add(self, level: str, event: str, **fields: Any) -> None:
        self.records.append((level, event, {**self.context, **fields}))

    def debug(self, event: str, **fields: Any) -> None:
        self._add("debug", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._add("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._add("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._add("error", event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._add("exception", event, **fields)

    def named(self, event: str) -> list[dict[str, Any]]:
        return [fields for _, name, fields in list(self.records) if name == event]


def image(value: int = 80) -> np.ndarray:
    return np.full((24, 32, 3), value, np.uint8)


class FakeConnection:
    """Frames without a real stream behind them (nothing to record): for connection handling."""

    def __init__(self, count: int | None, end: SourceError | None = None, interval: float = 0.0) -> None:
        self.template: StreamTemplate | None = None
        self.audio: AudioTrack | None = None
        self.info = StreamInfo("fake", 32, 24, 10.0)
        self.lagging = False
        self.decoding = True
        self.idle = False
        self.keyframes: GopMeter | None = None
        self.count = count
        self.end = end
        self.interval = interval
        self.closed = False

    def frames(self) -> Iterator[Frame]:
        index = 0
        while self.count is None or index < self.count:
            if self.interval:
                time.sleep(self.interval)
            yield Frame(index / 10, time.time(), 32, 24, image=image())
            index += 1
        if self.end:
            raise self.end

    def chunks(self) -> Iterator[Chunk]:
        for frame in self.frames():
            packet: av.Packet[Any] = av.Packet(b"\0")
            yield Chunk(packet, frame.time, True, (frame,), frame.wall)

    def close(self) -> None:
        self.closed = True


def camera(**env: str) -> config.CameraConfig:
    settings = {"RTSP_URL": "rtsp://127.0.0.1:9/x", "RECONNECT_DELAY": "0.01", "RECONNECT_MAX_DELAY": "0.02"}
    return config.parse({**settings, **env}).cameras[0]


def scripted(*steps: Callable[[], FakeConnection]) -> tuple[Callable[[config.CameraConfig], FakeConnection], list[int]]:
    """A connector that plays ``steps`` in order, repeating the last one."""
    calls = [0]

    def connector(_: config.CameraConfig) -> FakeConnection:
        step = steps[min(calls[0], len(steps) - 1)]
        calls[0] += 1
        return step()

    return connector, calls


def fail(reason: str) -> Callable[[], FakeConnection]:
    def step() -> FakeConnection:
        raise SourceError(reason, f"{reason} happened")

    return step


@pytest.fixture
def run_pipeline(tmp_path: Path) -> Iterator[Callable[..., tuple[Pipeline, RecordingLog]]]:
    pipelines: list[Pipeline] = []

    def start(
        cam: config.CameraConfig, connector: Any, video_dir: Path | None = None, events: Bus | None = None
    ) -> tuple[Pipeline, RecordingLog]:
        log = RecordingLog()
        video = video_dir or tmp_path / "video"
        temp = tmp_path / "video" / ".tmp"
        for folder in (video, temp):  # as the daemon makes them at start-up
            if not folder.exists():
                folder.mkdir(parents=True)
        pipeline = Pipeline(cam, video, temp, log, connector=connector, bus=events)
        pipelines.append(pipeline)
        pipeline.start()
        return pipeline, log

    yield start
    for pipeline in pipelines:
        pipeline.request_stop()
        assert pipeline.join(time.monotonic() + 5)


def test_repeated_failures_are_summarised_not_logged_each_time(run_pipeline: Any) -> None:
    connector, calls = scripted(fail(REFUSED))
    pipeline, log = run_pipeline(camera(), connector)
    assert wait_until(lambda: calls[0] >= 40, 10)
    pipeline.request_stop()
    pipeline.join(time.monotonic() + 2)
    logged = [fields["failures"] for fields in log.named("camera_unavailable")]
    assert logged[:6] == [1, 2, 4, 8, 16, 32]
    assert all(fields["reason"] == REFUSED and "retry_in" in fields for fields in log.named("camera_unavailable"))
    assert len(logged) <= 7 < calls[0]


def test_a_new_reason_is_logged_at_once(run_pipeline: Any) -> None:
    connector, calls = scripted(fail(REFUSED), fail(REFUSED), fail(REFUSED), fail(UNAUTHORIZED))
    _, log = run_pipeline(camera(), connector)
    assert wait_until(lambda: calls[0] >= 6, 5)
    reasons = [(f["reason"], f["failures"]) for f in log.named("camera_unavailable")]
    assert reasons[:3] == [(REFUSED, 1), (REFUSED, 2), (UNAUTHORIZED, 4)]  # 3: same reason, not a power of two


def test_lost_stream_is_logged_once_and_reconnected(run_pipeline: Any) -> None:
    first = FakeConnection(5, SourceError(STALLED, "no data for 5.0 s"))
    connector, _ = scripted(lambda: first, fail(REFUSED), lambda: FakeConnection(None, interval=0.01))
    pipeline, log = run_pipeline(camera(), connector)
    assert wait_until(lambda: len(log.named("camera_connected")) == 2, 5)
    assert first.closed
    (lost,) = log.named("camera_lost")
    assert lost["reason"] == STALLED and lost["camera"] == "camera"
    again = log.named("camera_connected")[1]
    assert again["failures"] == 2 and again["downtime_s"] >= 0
    health = pipeline.stats()
    assert health.connected and health.reconnects == 1 and health.frames > 5


def test_worker_gets_the_newest_frame_never_a_backlog(run_pipeline: Any) -> None:
    handled: list[float] = []
    behind: list[float] = []
    produced: list[float] = []

    class Slow(Pipeline):
        def _handle(self, frame: Frame) -> None:
            handled.append(frame.time)
            behind.append(produced[-1] - frame.time)  # how far the newest frame is ahead of this one
            time.sleep(0.05)  # a worker 10x slower than the camera

    class Counting(FakeConnection):
        def frames(self) -> Iterator[Frame]:
            for frame in super().frames():
                produced.append(frame.time)
                yield frame

    log = RecordingLog()
    pipeline = Slow(
        camera(), Path("unused"), Path("unused/.tmp"), log, connector=lambda _: Counting(None, interval=0.005)
    )
    pipeline.start()
    try:
        assert wait_until(lambda: len(handled) >= 20, 10)
        assert max(behind) <= 0.2  # never more than two frames (0.1 s each) behind the camera
        assert handled[-1] > 10 * len(handled) * 0.1 / 2  # it skipped ahead instead of working through all
        assert pipeline.stats().dropped > len(handled)
    finally:
        pipeline.request_stop()
        pipeline.join(time.monotonic() + 2)


def test_latest_frame_keeps_only_the_newest() -> None:
    slot = LatestFrame()
    for index in range(5):
        slot.put(Frame(index, 0, 1, 1, image=image()))
    taken = slot.take(0.1)
    assert taken is not None and taken.time == 4
    assert slot.dropped == 4
    assert slot.take(0.01) is None


def test_latest_frame_wakes_the_taker_only_for_the_wanted_frame() -> None:
    slot = LatestFrame()
    taken: list[Frame | None] = []
    taker = threading.Thread(target=lambda: taken.append(slot.take(5.0, wanted=(0, 1.0))))
    taker.start()
    for step in range(1, 10):  # stream times 0.1 .. 0.9: not yet due
        slot.put(Frame(step / 10, 0, 1, 1, image=image()))
    time.sleep(0.2)
    assert taker.is_alive() and not taken
    slot.put(Frame(1.0, 0, 1, 1, image=image()))
    taker.join(1.0)
    assert taken and taken[0] is not None and taken[0].time == 1.0


def test_latest_frame_gives_a_new_connection_or_the_newest_after_the_timeout() -> None:
    slot = LatestFrame()
    slot.put(Frame(0.5, 0, 1, 1, image=image()))
    started = time.monotonic()
    late = slot.take(0.2, wanted=(0, 1.0))  # the snapshot schedule still sees frames
    assert late is not None and late.time == 0.5 and time.monotonic() - started >= 0.19
    slot.put(Frame(0.1, 0, 1, 1, image=image(), connection=1))
    reconnected = slot.take(5.0, wanted=(0, 1.0))
    assert reconnected is not None and reconnected.connection == 1


def test_snapshots_are_written(run_pipeline: Any, tmp_path: Path) -> None:
    connector, _ = scripted(lambda: FakeConnection(None, interval=0.02))
    run_pipeline(camera(SNAPSHOT_INTERVAL="0.2", CAMERA_NAME="yard"), connector)
    folder = tmp_path / "video" / "yard" / "snapshots"
    assert wait_until(lambda: len(list(folder.rglob("*.jpg"))) >= 3, 5)
    assert not list(folder.rglob(".*"))  # no partial files left behind


def test_unwritable_snapshot_dir_is_logged_once_and_survived(run_pipeline: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    connector, _ = scripted(lambda: FakeConnection(None, interval=0.01))
    pipeline, log = run_pipeline(camera(SNAPSHOT_INTERVAL="0.05"), connector, video_dir=blocker)
    assert wait_until(lambda: pipeline.stats().frames > 100, 5)
    (failure,) = log.named("snapshot_failed")
    assert "Not a directory" in failure["error"]
    assert pipeline.alive()


def test_stop_interrupts_a_long_backoff(run_pipeline: Any) -> None:
    connector, calls = scripted(fail(UNAUTHORIZED))
    pipeline, _ = run_pipeline(camera(RECONNECT_DELAY="600", RECONNECT_MAX_DELAY="600"), connector)
    assert wait_until(lambda: calls[0] == 1, 2)
    started = time.monotonic()
    pipeline.request_stop()
    assert pipeline.join(time.monotonic() + 2)
    assert time.monotonic() - started < 1


def test_stop_is_seen_at_the_next_packet_while_only_keyframes_are_decoded(run_pipeline: Any) -> None:
    """An idle camera decodes a picture every 2 s; the stop must not wait for the next one (it
    did, and the reader outlived its second of grace at every other stop)."""

    class KeyframesOnly(FakeConnection):
        def chunks(self) -> Iterator[Chunk]:
            for index, frame in enumerate(self.frames()):
                keyframe = index % 20 == 0
                yield Chunk(av.Packet(b"\0"), frame.time, keyframe, (frame,) if keyframe else (), frame.wall)

    pipeline, log = run_pipeline(camera(), lambda _: KeyframesOnly(None, interval=0.1))
    assert wait_until(lambda: log.named("camera_connected"), 5)
    time.sleep(0.5)  # between two keyframes
    started = time.monotonic()
    pipeline.request_stop()
    assert pipeline.join(time.monotonic() + 5)
    took = time.monotonic() - started
    print(f"stopped {took:.2f} s after the request, keyframes 2 s apart")
    assert took < 0.5


def test_supervisor_restarts_a_pipeline_whose_thread_died(tmp_path: Path) -> None:
    def broken(_: config.CameraConfig) -> FakeConnection:
        raise RuntimeError("a bug outside the per-frame guard")

    made: list[Pipeline] = []
    log = RecordingLog()

    def factory() -> Pipeline:
        pipeline = Pipeline(camera(), tmp_path, tmp_path / ".tmp", log, connector=broken)
        made.append(pipeline)
        return pipeline

    supervisor = Supervisor([factory], log)
    supervisor.start()
    assert wait_until(made[0].dead_threads, 2)
    supervisor.tick()
    assert len(made) == 2 and supervisor.restarts == 1
    (restart,) = log.named("pipeline_restart")
    assert "thread died" in restart["problem"]
    assert supervisor.stop(2)  # the replacement's threads end too


def test_supervisor_restarts_a_wedged_pipeline(tmp_path: Path) -> None:
    now = [1000.0]
    release = threading.Event()

    def hangs(_: config.CameraConfig) -> FakeConnection:
        release.wait(10)  # a connect that never returns
        raise SourceError(REFUSED, "gave up")

    made: list[Pipeline] = []
    log = RecordingLog()

    def factory() -> Pipeline:
        pipeline = Pipeline(
            camera(STALL_TIMEOUT="5"), tmp_path, tmp_path / ".tmp", log, connector=hangs, clock=lambda: now[0]
        )
        made.append(pipeline)
        return pipeline

    supervisor = Supervisor([factory], log)
    supervisor.start()
    supervisor.tick()
    assert supervisor.restarts == 0
    live, status = supervisor.summary()
    assert live and status == "0/1 cameras streaming; camera connecting (connecting), last clip none"
    now[0] += 16  # past 2 * STALL_TIMEOUT + 5 with no beat from the reader
    assert not supervisor.summary()[0]  # wedged: the watchdog is withheld until it is replaced
    supervisor.tick()
    assert supervisor.restarts == 1
    assert "reader made no progress" in log.named("pipeline_restart")[0]["problem"]
    release.set()
    assert supervisor.stop(3)


def test_motion_event_is_logged_with_an_outlined_event_snapshot_and_recorded(run_pipeline: Any, tmp_path: Path) -> None:
    """Also: what happened is published on the bus in order, a subscriber that never reads only
    loses events (counted), and the stats snapshot says what the camera did."""
    pictures = (f.bgr() for f in synthetic.frames(seconds=8, object_at=synthetic.crossing(start=1, duration=3)))
    still = synthetic.frames(seconds=600)  # then nothing moves
    stream = itertools.chain(pictures, (f.bgr() for f in still))

    def connector(_: config.CameraConfig) -> SyntheticConnection:
        return SyntheticConnection(stream, synthetic.WIDTH, synthetic.HEIGHT, synthetic.FPS, speed=4)

    settings = camera(SNAPSHOT_INTERVAL="0", CAMERA_NAME="yard", CLIP_SECONDS="6", PRE_SECONDS="1")
    events = Bus(RecordingLog())
    seen = events.subscribe("observer")
    stuck = events.subscribe("stuck", size=1)  # never read
    pipeline, log = run_pipeline(settings, connector, events=events)
    assert wait_until(lambda: log.named("motion_started"), 10)
    (started,) = log.named("motion_started")
    assert started["area"] >= 0.5 and started["boxes"] >= 1
    snapshot = Path(started["snapshot"])
    assert snapshot.parent.parent == tmp_path / "video" / "yard" / "events"
    picture = cv2.imread(str(snapshot))
    assert picture is not None
    b, g, r = (picture[:, :, i].astype(int) for i in range(3))
    green = (g > 150) & (g - np.maximum(b, r) > 60)
    assert green.sum() > 40  # the outline was drawn
    assert wait_until(lambda: log.named("motion_ended"), 10)
    assert log.named("motion_ended")[0]["duration_s"] >= 2
    assert wait_until(lambda: log.named("clip_saved"), 10)
    (saved,) = log.named("clip_saved")
    assert saved["duration_s"] == pytest.approx(6, abs=0.2)
    assert Path(saved["path"]).parent.parent == tmp_path / "video" / "yard"
    published = [e for e in iter(lambda: seen.get(0.1), None)]
    kinds = [type(e).__name__ for e in published]
    assert kinds[0] == "CameraConnected"
    assert kinds.index("MotionStarted") < kinds.index("MotionEnded") < kinds.index("ClipSaved")
    start = next(e for e in published if isinstance(e, MotionStarted))
    end = next(e for e in published if isinstance(e, MotionEnded))
    clip = next(e for e in published if isinstance(e, ClipSaved))
    assert (start.camera, start.snapshot, start.area) == ("yard", snapshot, started["area"]) and start.boxes
    assert end.start == start.start
    assert end.end - end.start == pytest.approx(log.named("motion_ended")[0]["duration_s"], abs=0.05)
    assert clip.path == Path(saved["path"]) and clip.size == clip.path.stat().st_size
    assert stuck.dropped == len(published) - 1 and stuck.queue.qsize() == 1
    stats = pipeline.stats()
    assert (stats.state, stats.motion, stats.recording, stats.clips_saved) == ("streaming", False, False, 1)
    assert stats.bytes_written == clip.size and stats.analysed > 0 and stats.frames >= stats.analysed


def test_a_region_outside_the_picture_is_a_warning_at_connect(run_pipeline: Any) -> None:
    connector, _ = scripted(
        lambda: FakeConnection(3, SourceError(STALLED, "gone")), lambda: FakeConnection(None, interval=0.01)
    )
    _, log = run_pipeline(camera(MOTION_REGIONS="100,100,20,20", MOTION_MASK="0,0,10,10"), connector)
    assert wait_until(lambda: len(log.named("camera_connected")) == 2, 5)
    assert wait_until(lambda: log.named("motion_shape_outside"), 2)
    time.sleep(0.3)
    (warning,) = log.named("motion_shape_outside")  # once per picture size, not per reconnect
    assert (
        warning["problem"] == "MOTION_REGIONS shape 100,100,120,100,120,120,100,120 is wholly outside the 32x24 picture"
    )


def _crossing_camera() -> Callable[[config.CameraConfig], SyntheticConnection]:
    pictures = (f.bgr() for f in synthetic.frames(seconds=8, object_at=synthetic.crossing(start=1, duration=3)))
    stream = itertools.chain(pictures, (f.bgr() for f in synthetic.frames(seconds=600)))

    def connector(_: config.CameraConfig) -> SyntheticConnection:
        return SyntheticConnection(stream, synthetic.WIDTH, synthetic.HEIGHT, synthetic.FPS, speed=4)

    return connector


def test_with_recording_switched_off_motion_is_an_event_but_no_clip(run_pipeline: Any) -> None:
    settings = camera(SNAPSHOT_INTERVAL="0", CLIP_SECONDS="4", PRE_SECONDS="1")
    pipeline, log = run_pipeline(settings, _crossing_camera())
    pipeline.controls.record = False  # as the UI sets it, on a running camera
    assert wait_until(lambda: log.named("motion_ended"), 15)
    time.sleep(0.5)
    assert not log.named("clip_started") and pipeline.stats().clips_saved == 0


def test_with_detection_switched_off_nothing_is_an_event_and_snapshots_follow_their_switch(
    run_pipeline: Any, tmp_path: Path
) -> None:
    settings = camera(SNAPSHOT_INTERVAL="0.2", CLIP_SECONDS="4", PRE_SECONDS="1")
    pipeline, log = run_pipeline(settings, _crossing_camera())
    pipeline.controls.detect = False
    pipeline.controls.snapshots = False
    assert wait_until(lambda: pipeline.stats().frames > 60, 15)  # the object has crossed
    assert not log.named("motion_started") and pipeline.stats().analysed == 0
    assert not list((tmp_path / "video").rglob("snapshots/*/*.jpg"))
    pipeline.controls.snapshots = True
    assert wait_until(lambda: list((tmp_path / "video").rglob("snapshots/*/*.jpg")), 5)


def test_the_live_view_holds_pictures_only_while_someone_watches(run_pipeline: Any) -> None:
    settings = camera(SNAPSHOT_INTERVAL="0", LIVE_FPS="5", LIVE_WIDTH="160")
    pipeline, _ = run_pipeline(settings, _crossing_camera())
    assert wait_until(lambda: pipeline.stats().frames > 5, 10)
    assert pipeline.live.version == 0 and pipeline.live.jpeg() is None  # nobody watches: nothing kept
    pipeline.live.watch()
    assert wait_until(lambda: pipeline.live.version > 0, 5)
    version = pipeline.live.version
    picture = pipeline.live.jpeg()
    assert picture is not None and picture[1][:2] == b"\xff\xd8"
    image = cv2.imdecode(np.frombuffer(picture[1], np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[1] == 160  # LIVE_WIDTH
    assert pipeline.live.jpeg() is picture or pipeline.live.version > version  # made once per picture
    started, first = time.monotonic(), pipeline.live.version
    time.sleep(2)
    rate = (pipeline.live.version - first) / (time.monotonic() - started)
    assert rate <= 5 * 1.3  # LIVE_FPS caps it (the demo stream runs at 4x speed)
    pipeline.live.unwatch()
    assert pipeline.live.jpeg() is None
