"""Periodic JPEG snapshots of the live picture."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vcam import storage

JPEG_QUALITY = 90


def save_jpeg(path: Path, bgr: np.ndarray, *, root: Path) -> None:
    """Encode and write atomically; folders are made below ``root`` (VIDEO_DIR) only."""
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    storage.atomic_write(path, encoded.tobytes(), root=root)
