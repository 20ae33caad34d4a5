"""Detection on a camera's sub-stream (DETECT_URL), recording from its main stream: two real RTSP
streams of the same scene at two sizes, as cameras send them."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import Daemon, RtspServer, decodes_cleanly, ffprobe

pytestmark = pytest.mark.slow

ONSET_S = 8.0  # the red square starts crossing then; the detector has learnt the scene by then
PRE_S = 2.0


def scaled(main: Path, width: int, height: int) -> Path:
    """The same scene at the sub-stream's size, as a camera's second stream is."""
    target = main.with_name(f"{main.stem}_{width}x{height}.mp4")
    if not target.exists():
        subprocess.run(
            [
                *("ffmpeg", "-v", "error", "-y", "-i", str(main), "-vf", f"scale={width}:{height}"),
                *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "10", str(target)),
            ],
            check=True,
            timeout=120,
        )
    return target


def red_and_green(picture: np.ndarray) -> tuple[tuple[int, int, int, int] | None, np.ndarray]:
    """The red square's bounding box (x0, y0, x1, y1) in an RGB picture, and where it is green."""
    r, g, b = (picture[:, :, i].astype(int) for i in range(3))
    red = (r > 150) & (g < 90) & (b < 90)
    green = (g > 150) & (g - np.maximum(b, r) > 60)
    if red.sum() < 400:
        return None, green
    ys, xs = np.nonzero(red)
    return (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())), green


def test_motion_found_on_the_sub_stream_is_recorded_from_the_main_stream(
    make_clip: Callable[..., Path], rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon]
) -> None:
    main_clip = make_clip(seconds=40, size="640x480", fps=10, onset=ONSET_S)
    main = rtsp_server(clip=main_clip)
    sub = rtsp_server(clip=scaled(main_clip, 320, 240))
    proc = daemon(
        RTSP_URL=main.url,
        DETECT_URL=sub.url,
        RECORD_MODE="annotated",
        CLIP_SECONDS="6",
        PRE_SECONDS=str(PRE_S),
        SNAPSHOT_INTERVAL="0",
    )
    proc.wait_for("camera_connected", 20, count=2)
    streams = sorted(e.get("stream", "main") for _, e in proc.events("camera_connected"))
    assert streams == ["detect", "main"]
    _, started = proc.wait_for("motion_started", 30)
    _, saved = proc.wait_for("clip_saved", 30)
    sub.kill()  # the sub-stream failing is a camera failure like any other
    _, lost = proc.wait_for("camera_lost", 20)
    assert lost["stream"] == "detect"
    assert proc.terminate()[0] == 0
    clip = Path(saved["path"])
    assert (ffprobe(clip)["width"], ffprobe(clip)["height"]) == ("640", "480") and decodes_cleanly(clip)
    snapshot = av.open(started["snapshot"])  # the event snapshot: the sub-stream's picture
    assert snapshot.streams.video[0].codec_context.width == 320
    snapshot.close()
    main_reader = next(e for _, e in proc.events("reader_stopped") if e.get("stream") is None)
    assert main_reader["frames"] == 0 and main_reader["packets"] > 0  # the main stream was never decoded

    first_red, outlined = None, 0
    with av.open(str(clip)) as recorded:
        for picture in recorded.decode(recorded.streams.video[0]):
            box, green = red_and_green(picture.to_ndarray(format="rgb24"))
            if box is None:
                continue
            first_red = picture.time if first_red is None else first_red
            x0, y0, x1, y1 = box
            near = green[max(0, y0 - 24) : y1 + 24, max(0, x0 - 24) : x1 + 24]
            outlined += int(near.sum() > 40)
    print(f"sub-stream detection: square first seen {first_red:.2f} s into the clip; outlined in {outlined} pictures")
    assert first_red is not None and first_red >= PRE_S - 1.0  # the pre-roll before the motion is there
    assert outlined >= 5  # the sub-stream's boxes, scaled onto the main picture, sit on the square
