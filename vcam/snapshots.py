"""Periodic JPEG snapshots of the live picture."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vcam import storage

JPEG_QUALITY = 90


class SnapshotSchedule:
    """Due at the first frame, then every ``interval`` seconds; 0 turns snapshots off. Pure."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.next_due: float | None = None

    def due(self, now: float) -> bool:
        if self.interval <= 0:
            return False
        if self.next_due is not None and now < self.next_due:
            return False
        # Step from the planned time, not from now, so snapshots do not drift; skip missed ones.
        if self.next_due is None or now - self.next_due >= self.interval:
            self.next_due = now + self.interval
        else:
            self.next_due += self.interval
        return True


def snapshot_path(video_dir: Path, camera: str, wall: float) -> Path:
    return storage.dated_path(storage.camera_dir(video_dir, camera) / "snapshots", wall, ".jpg")


def event_path(video_dir: Path, camera: str, wall: float) -> Path:
    return storage.dated_path(storage.camera_dir(video_dir, camera) / "events", wall, ".jpg")


def save_jpeg(path: Path, bgr: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    storage.atomic_write(path, encoded.tobytes())
