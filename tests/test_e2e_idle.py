"""An idle camera watched at its keyframes, against gst-rtsp-server: while nothing moves only the
keyframes are decoded (the metrics count them), a square that starts to move is seen within one
keyframe interval and the clip holds the PRE_SECONDS before the event; a camera whose keyframes
come too far apart is decoded whole, said once."""

from __future__ import annotations

import sqlite3
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from conftest import Daemon, RtspServer, free_port, wait_until

pytestmark = pytest.mark.slow

ONSET_S = 12.0  # the clip: a still noisy grey scene; the red square moves from here, for 6 s


def frames_decoded(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    line = next(line for line in text.splitlines() if line.startswith('vcam_camera_frames_total{camera="door"}'))
    return float(line.split()[-1])


def when(event: dict[str, object]) -> float:
    return datetime.fromisoformat(str(event["timestamp"])).timestamp()


def test_an_idle_camera_is_decoded_at_its_keyframes_and_wakes_for_motion_within_one(
    rtsp_server: Callable[..., RtspServer],
    make_clip: Callable[..., Path],
    daemon: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    camera = rtsp_server(clip=make_clip(seconds=60, onset=ONSET_S, gop_s=1.0))
    port = free_port()
    vcam = daemon(
        RTSP_URL=camera.url,
        CAMERA_NAME="door",
        RECORD_MODE="passthrough",
        CLIP_SECONDS="6",
        PRE_SECONDS="2",
        SNAPSHOT_INTERVAL="0",
        METRICS_ADDR=f"127.0.0.1:{port}",
    )
    _, connected = vcam.wait_for("camera_connected", 20)
    picture_zero = when(connected) - float(connected["first_frame_s"])  # the camera's time 0, on our clock
    _, said = vcam.wait_for("idle_decoding", 15)
    assert said["mode"] == "keyframes" and said["keyframe_every_s"] == pytest.approx(1.0, abs=0.05)
    time.sleep(1)
    before, at = frames_decoded(port), time.monotonic()
    time.sleep(4)
    idle_rate = (frames_decoded(port) - before) / (time.monotonic() - at)
    assert idle_rate <= 1.5, f"{idle_rate:.1f} pictures a second decoded while idle (10 fps, a keyframe a second)"

    _, started = vcam.wait_for("motion_started", ONSET_S + 15)
    latency = when(started) - (picture_zero + ONSET_S)
    _, saved = vcam.wait_for("clip_saved", 20)
    code, _ = vcam.terminate()
    assert code == 0
    with sqlite3.connect(tmp_path / "video" / "events.sqlite3") as db:
        (event_start,) = db.execute("SELECT start FROM events").fetchone()
        (clip_start,) = db.execute("SELECT start FROM clips WHERE path = ?", (saved["path"],)).fetchone()
    print(
        f"\nidle: {idle_rate:.2f} pictures/s decoded of 10; motion_started {latency:.2f} s after the square "
        f"began to move (keyframe every 1 s); the clip starts {event_start - clip_start:.2f} s before the event"
    )
    # The square starts moving on a keyframe (12 s, a keyframe a second): seen there, the reader is
    # woken at its next packet and MOTION_MIN_FRAMES=2 pictures confirm it. A wake that waited for the
    # next keyframe (as it once did) takes over 1 s; 0.5 s of the bound is for this busy machine.
    assert latency <= 0.5 + 0.5
    assert event_start - clip_start >= 2.0 - 0.05


def test_keyframes_too_far_apart_mean_every_picture_is_decoded_said_once(
    rtsp_server: Callable[..., RtspServer], make_clip: Callable[..., Path], daemon: Callable[..., Daemon]
) -> None:
    camera = rtsp_server(clip=make_clip(seconds=60, gop_s=4.0))
    vcam = daemon(RTSP_URL=camera.url, SNAPSHOT_INTERVAL="0", RECORD_MODE="passthrough")
    _, said = vcam.wait_for("idle_decoding", 30)
    assert said["level"] == "warning" and said["mode"] == "all"
    assert said["keyframe_every_s"] == pytest.approx(4.0, abs=0.1) and "IDLE_MAX_GOP=2" in str(said["why"])
    time.sleep(2)
    assert wait_until(lambda: len(vcam.events("idle_decoding")) == 1, 1)
