"""Outlines and label drawn into annotated clips: in the right place, never into the decoder's
picture, and the reused output picture never overwrites a frame the encoder has not taken yet."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from vcam import overlay
from vcam.clipfiles import ClipWriter
from vcam.config import ANNOTATED
from vcam.frames import StreamInfo
from vcam.motion import Box


def flat_frame(level: int, width: int = 320, height: int = 240) -> av.VideoFrame:
    """A grey yuv420p picture: luma ``level``, neutral colour."""
    planes = np.full((height * 3 // 2, width), 128, np.uint8)
    planes[:height] = level
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def luma(frame: av.VideoFrame) -> np.ndarray:
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : frame.width].copy()


def test_outline_and_label_are_drawn_on_a_copy() -> None:
    source = flat_frame(100)
    picture = overlay.annotate_video(source, [Box(100, 80, 60, 40)], "cam  2026-11-23 10:00:00")
    y = luma(picture)
    assert (luma(source) == 100).all(), "the decoder's picture was written to"
    green_y = overlay._GREEN_YUV[0]
    assert y[80, 120] == green_y and y[119, 130] == green_y  # top and bottom edges
    assert y[100, 100] == green_y and y[100, 159] == green_y  # left and right edges
    assert y[100, 130] == 100  # inside the box: untouched
    band = y[:10, :60]
    assert (band == overlay._BLACK_Y).any() and (band > 200).any()  # dark band with white text
    assert y[200, 300] == 100


def test_the_output_picture_is_reused() -> None:
    first = overlay.annotate_video(flat_frame(50), [], "a")
    again = overlay.annotate_video(flat_frame(60), [], "a", into=first)
    assert again is first and luma(again)[200, 300] == 60
    other_size = overlay.annotate_video(flat_frame(70, 160, 120), [], "a", into=first)
    assert other_size is not first and (other_size.width, other_size.height) == (160, 120)


def test_each_encoded_frame_keeps_its_own_picture(tmp_path: Path) -> None:
    """Twenty different pictures through one reused output picture into H.264: every decoded
    frame shows its own brightness, so none was overwritten while the encoder still needed it."""
    levels = [30 + 9 * i for i in range(20)]
    path = tmp_path / "clip.mp4"
    writer = ClipWriter(path, ANNOTATED, None, StreamInfo("h264", 320, 240, 10.0), start=0.0, root=tmp_path)
    for index, level in enumerate(levels):
        writer.write_frame(flat_frame(level), index / 10, (), "cam")
    writer.close()
    with av.open(str(path)) as clip:
        seen = [float(luma(frame)[120:, 160:].mean()) for frame in clip.decode(video=0)]
    assert len(seen) == len(levels)
    assert all(abs(got - want) < 3 for got, want in zip(seen, levels, strict=True)), seen
