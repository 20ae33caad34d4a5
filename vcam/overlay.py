"""Outlines of moving regions and the camera/time label, drawn on a copy of a picture."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

import av
import av.video.plane
import cv2
import numpy as np

from vcam.motion import Box

OUTLINE = (0, 255, 0)  # BGR green: visible on most scenes
TEXT = (255, 255, 255)


def label(camera: str, wall: float) -> str:
    return f"{camera}  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(wall))}"


def annotate(bgr: np.ndarray, boxes: Sequence[Box], text: str) -> np.ndarray:
    """A copy of ``bgr`` with a rectangle round each box and ``text`` top left on a dark band."""
    picture = bgr.copy()
    width = picture.shape[1]
    thickness = max(2, width // 400)
    for box in boxes:
        cv2.rectangle(picture, (box.x, box.y), (box.x + box.w - 1, box.y + box.h - 1), OUTLINE, thickness)
    scale = max(0.4, width / 1600)
    (text_w, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(2, text_h // 3)
    cv2.rectangle(picture, (0, 0), (text_w + 2 * pad, text_h + baseline + 2 * pad), (0, 0, 0), -1)
    cv2.putText(picture, text, (pad, pad + text_h), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT, thickness, cv2.LINE_AA)
    return picture


# BT.601 limited-range YUV of the outline green and of the label's white text on black
_GREEN_YUV = (145, 54, 34)
_WHITE_Y, _BLACK_Y, _NEUTRAL_UV = 235, 16, 128


def annotate_video(
    video: av.VideoFrame, boxes: Sequence[Box], text: str, into: av.VideoFrame | None = None
) -> av.VideoFrame:
    """A yuv420p frame: ``video`` with outlines and label drawn straight into its planes.

    Drawing in YUV spares two colour conversions per frame (BGR and back cost more than
    encoding); the decoder's own frame is never written to, since it may be a reference frame.
    ``into``, the frame this returned last time, is drawn into again: no megabytes allocated per
    frame. If the encoder still holds it, make_writable() gives it a buffer of its own first.
    """
    if video.format.name in ("yuv420p", "yuvj420p"):
        picture = into
        if picture is None or (picture.width, picture.height) != (video.width, video.height):
            picture = av.VideoFrame(video.width, video.height, "yuv420p")
        picture.make_writable()
        for source, target in zip(video.planes, picture.planes, strict=True):
            _plane(target)[:, : target.width] = _plane(source)[:, : target.width]
    else:
        picture = video.reformat(format="yuv420p")
    planes = [_plane(p) for p in picture.planes]
    thickness = max(2, video.width // 400)
    for box in boxes:
        for index, (plane, value) in enumerate(zip(planes, _GREEN_YUV, strict=True)):
            shift = 0 if index == 0 else 1
            top_left = (box.x >> shift, box.y >> shift)
            bottom_right = ((box.x + box.w - 1) >> shift, (box.y + box.h - 1) >> shift)
            cv2.rectangle(plane, top_left, bottom_right, value, max(1, thickness >> shift))
    band = _label_band(text, video.width)
    band_h, band_w = min(band.shape[0], video.height), min(band.shape[1], video.width)
    planes[0][:band_h, :band_w] = band[:band_h, :band_w]
    for plane in planes[1:]:
        plane[: (band_h + 1) // 2, : (band_w + 1) // 2] = _NEUTRAL_UV
    return picture


@functools.lru_cache(maxsize=4)
def _label_band(text: str, width: int) -> np.ndarray:
    """The label as luma on black, drawn once per text (the text changes once a second)."""
    scale = max(0.4, width / 1600)
    thickness = max(1, width // 640)
    (text_w, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(2, text_h // 3)
    band = np.full((text_h + baseline + 2 * pad, text_w + 2 * pad), _BLACK_Y, np.uint8)
    cv2.putText(band, text, (pad, pad + text_h), cv2.FONT_HERSHEY_SIMPLEX, scale, _WHITE_Y, thickness, cv2.LINE_AA)
    return band


def _plane(plane: av.video.plane.VideoPlane) -> np.ndarray:
    rows: np.ndarray = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
    return rows
