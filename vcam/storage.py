"""Where files go, and writing them so that only whole files ever appear."""

from __future__ import annotations

import os
import time
from pathlib import Path


def camera_dir(video_dir: Path, camera: str) -> Path:
    return video_dir / camera


def dated_path(folder: Path, wall: float, suffix: str) -> Path:
    """``folder/YYYY-MM-DD/HH_MM_SS<suffix>`` in local time, the way a person browses recordings."""
    local = time.localtime(wall)
    return folder / time.strftime("%Y-%m-%d", local) / (time.strftime("%H_%M_%S", local) + suffix)


def atomic_write(path: Path, data: bytes) -> None:
    """Write beside the target under a hidden name, fsync, then rename: readers see all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    try:
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and prove a file can be written there; raises OSError if not."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".vcam-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
    finally:
        probe.unlink(missing_ok=True)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` survive a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
