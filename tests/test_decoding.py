"""Keyframes-only decoding while idle: how often keyframes come, the decoder that skips and catches
up (its pictures after waking equal a full decode's, with and without B-frames), the idle policy,
and a background model that learns in seconds whatever the rate of analysis."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import synthetic

__all__ = ["run_pipeline"]  # the fixture, from test_pipeline
from conftest import wait_until
from test_pipeline import camera, run_pipeline

from vcam.config import MotionSettings
from vcam.decoding import GopMeter, KeyframeDecoder
from vcam.demo import SyntheticConnection
from vcam.motion import IdlePolicy, MotionDetector, steps_between


def test_keyframes_only_is_for_streams_whose_keyframes_come_often_enough() -> None:
    meter = GopMeter(2.0)
    for t in (0.0, 2.0, 4.0, 6.0):
        meter.keyframe(t)
    assert not meter.known and not meter.short_enough  # three intervals: not yet
    meter.keyframe(8.05)  # a frame late is still "every 2 s"
    assert meter.known and meter.short_enough and meter.longest == pytest.approx(2.05)
    meter.keyframe(12.0)
    assert not meter.short_enough  # one long GOP among the last four: everything is decoded
    for t in (13.0, 14.0, 15.0):
        meter.keyframe(t)
    assert not meter.short_enough
    meter.keyframe(16.0)
    assert meter.short_enough


def test_steps_count_detection_intervals_between_analyses() -> None:
    assert [steps_between(dt, 5.0) for dt in (0.0, 0.2, 0.24, 0.3, 1.0, 2.0, 600.0)] == [1, 1, 1, 2, 5, 10, 50]


def test_the_idle_policy_wakes_at_a_moving_picture_and_sleeps_after_the_event_and_a_hold() -> None:
    policy = IdlePolicy(True, hold_s=2.0)
    assert policy.idle(0.0, moving=False, event_open=False)
    assert not policy.idle(1.0, moving=True, event_open=False)  # a moving keyframe: everything at once
    assert not policy.idle(1.2, moving=True, event_open=True)
    assert not policy.idle(5.0, moving=False, event_open=True)  # the event's post-roll
    assert policy.idle(5.2, moving=False, event_open=False)  # ended, last motion long ago: keyframes again
    assert not policy.idle(6.0, moving=True, event_open=False)  # a moving keyframe that starts no event...
    assert not policy.idle(7.9, moving=False, event_open=False)  # ...keeps every picture for the hold
    assert policy.idle(8.0, moving=False, event_open=False)
    assert not IdlePolicy(False).idle(0.0, moving=False, event_open=False)  # IDLE_DECODE=all


@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory: pytest.TempPathFactory) -> Callable[[bool], Path]:
    """320x240 15 fps H.264 with a keyframe every second, with or without B-frames."""
    folder = tmp_path_factory.mktemp("gop")

    def make(b_frames: bool) -> Path:
        path = folder / f"gop_b{int(b_frames)}.mp4"
        if not path.exists():
            subprocess.run(
                [
                    *("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15", "-t", "8"),
                    *("-c:v", "libx264", "-preset", "veryfast", "-g", "15", "-sc_threshold", "0"),
                    *("-bf", "2" if b_frames else "0", "-pix_fmt", "yuv420p", str(path)),
                ],
                check=True,
                timeout=60,
            )
        return path

    return make


def pictures(path: Path, wake_after: int | None) -> Iterator[tuple[int, int, np.ndarray]]:
    """(packet number, pts, luma) of what the decoder hands out, idle from the start until
    ``wake_after`` packets (None: never idle)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoder = KeyframeDecoder(stream.codec_context, 2.0, keyframes_allowed=True)
        for number, packet in enumerate(container.demux(stream)):
            decoder.idle = wake_after is not None and number < wake_after
            t = float(packet.pts * packet.time_base) if packet.pts is not None and packet.time_base else 0.0
            for frame in decoder.decode(packet, t):
                assert frame.pts is not None
                yield number, frame.pts, frame.to_ndarray(format="gray").astype(np.int16)


@pytest.mark.parametrize("b_frames", [False, True], ids=["no-b-frames", "b-frames"])
def test_woken_mid_gop_the_decoder_hands_out_the_same_pictures_as_a_full_decode(
    gop_clip: Callable[[bool], Path], b_frames: bool
) -> None:
    path = gop_clip(b_frames)
    full = {pts: luma for _, pts, luma in pictures(path, None)}
    handed = list(pictures(path, wake_after=97))  # keyframes every 15 packets: woken 7 packets into a GOP
    idle = [(n, pts) for n, pts, _ in handed if n < 97]
    awake = [(pts, luma) for n, pts, luma in handed if n >= 97]
    # idle: the keyframes only (the GOP is known after four of them), each at its own packet
    assert [pts for _, pts in idle][-3:] == sorted(full)[60:91:15]
    assert all(n % 15 == 0 for n, _ in idle[-3:])
    assert len(idle) <= 60 + 3  # every picture while the GOP is measured (four of them), then three keyframes
    # awake: every picture from there on, each exactly as a full decode has it, in order
    times = [pts for pts, _ in awake]
    assert times == sorted(times) and len(times) >= len(full) - 97 - 3
    assert max(float(np.abs(luma - full[pts]).mean()) for pts, luma in awake) == 0.0


def test_a_background_learns_in_seconds_whatever_the_rate_of_analysis() -> None:
    """Something that appears and stays (a parked car) is absorbed about as many seconds later when
    keyframes one second apart are analysed as when five pictures a second are."""
    settings = MotionSettings()

    def absorbed_after(interval: float) -> float:
        detector = MotionDetector(settings, synthetic.WIDTH, synthetic.HEIGHT)
        scene = synthetic.scene()
        parked = scene.copy()
        parked[100:160, 100:180] = 250
        noise = np.random.default_rng(1)
        t = 0.0
        while t < 60:
            picture = (scene if t < 20 else parked).astype(np.int16) + noise.integers(-3, 4, scene.shape)
            gray = np.clip(picture, 0, 255).astype(np.uint8)
            area = detector.detect(gray, steps_between(interval, settings.detect_fps)).area
            if t >= 20 and area < settings.min_area:
                return t - 20
            t += interval
        return 60.0

    every_picture, keyframes = absorbed_after(0.2), absorbed_after(1.0)
    print(f"\nparked object absorbed after {every_picture:.1f} s (5 a second) and {keyframes:.1f} s (keyframes 1 s)")
    assert 2 <= every_picture <= 20 and abs(keyframes - every_picture) <= 2.0


def test_an_idle_synthetic_camera_is_watched_at_its_keyframes_and_wakes_for_motion(run_pipeline: Any) -> None:
    """Still for 12 s (the GOP, 2 s, known after 8), then an object crosses: the event is found."""
    still = (f.bgr() for f in synthetic.frames(seconds=12))
    crossing = (f.bgr() for f in synthetic.frames(seconds=10, object_at=synthetic.crossing(start=1, duration=4)))
    after = (f.bgr() for f in synthetic.frames(seconds=600))
    stream = itertools.chain(still, crossing, after)

    def connector(_: object) -> SyntheticConnection:
        return SyntheticConnection(stream, synthetic.WIDTH, synthetic.HEIGHT, synthetic.FPS, speed=4)

    pipeline, log = run_pipeline(camera(SNAPSHOT_INTERVAL="0", CLIP_SECONDS="4", PRE_SECONDS="1"), connector)
    assert wait_until(lambda: log.named("idle_decoding"), 10)
    assert log.named("idle_decoding")[0] == {"camera": "camera", "mode": "keyframes", "keyframe_every_s": 2.0}
    frames_when_idle = pipeline.stats().frames
    assert wait_until(lambda: log.named("motion_started"), 15)
    assert wait_until(lambda: log.named("clip_saved"), 15)
    # 12 s at 10 fps: 120 pictures if all were decoded; keyframes only after the first 8 s
    assert frames_when_idle < 100
