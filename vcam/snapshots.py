"""Periodic JPEG snapshots of the live picture."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vcam import storage

JPEG_QUALITY = 90


def snapshot_path(video_dir: Path, camera: str, wall: float) -> Path:
    return storage.dated_path(storage.camera_dir(video_dir, camera) / "snapshots", wall, ".jpg")


def event_path(video_dir: Path, camera: str, wall: float) -> Path:
    return storage.dated_path(storage.camera_dir(video_dir, camera) / "events", wall, ".jpg")


def save_jpeg(path: Path, bgr: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    storage.atomic_write(path, encoded.tobytes())
