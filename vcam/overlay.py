"""Outlines of moving regions and the camera/time label, drawn on a copy of a picture."""

from __future__ import annotations

import time
from collections.abc import Sequence

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
