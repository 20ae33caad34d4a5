"""Where files go, and writing them so that only whole files ever appear."""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vcam.retention import Kind, Policy, StoredFile, plan


def camera_dir(video_dir: Path, camera: str) -> Path:
    return video_dir / camera


def dated_path(folder: Path, wall: float, suffix: str) -> Path:
    """``folder/YYYY-MM-DD/HH_MM_SS<suffix>`` in local time, the way a person browses recordings."""
    local = time.localtime(wall)
    return folder / time.strftime("%Y-%m-%d", local) / (time.strftime("%H_%M_%S", local) + suffix)


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write beside the target under a hidden name, fsync, then rename: readers see all or nothing.
    ``durable=False`` skips the fsync for files rewritten every second (no SD card wear)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    try:
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
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


# --- what is stored, and keeping it within limits -------------------------------------------


_CLIP_STAMP = re.compile(r"_(\d{8}_\d{6})")


def _recorded_at(path: Path, kind: Kind) -> float:
    """When a file was recorded, from its name (local time), else its modification time."""
    try:
        if kind == "clip":  # <camera>_YYYYmmdd_HHMMSS[_partial][_2].mp4
            match = _CLIP_STAMP.search(path.stem)
            if match is None:
                raise ValueError(path.stem)
            return time.mktime(time.strptime(match[1], "%Y%m%d_%H%M%S"))
        return time.mktime(time.strptime(f"{path.parent.name} {path.stem[:8]}", "%Y-%m-%d %H_%M_%S"))
    except (ValueError, OverflowError):
        return path.stat().st_mtime


def stored_files(video_dir: Path, temp_dir: Path) -> list[StoredFile]:
    """Clips and snapshots of every camera; never what is being written (TEMP_DIR, hidden files)."""
    found: list[StoredFile] = []
    if not video_dir.is_dir():
        return found
    temp = temp_dir.resolve()
    for camera in sorted(p for p in video_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if camera.resolve() == temp:
            continue
        patterns: list[tuple[str, Kind]] = [
            ("*/*.mp4", "clip"),
            ("snapshots/*/*.jpg", "snapshot"),
            ("events/*/*.jpg", "event"),
        ]
        for pattern, kind in patterns:
            for path in camera.glob(pattern):
                if path.name.startswith("."):
                    continue
                try:
                    found.append(StoredFile(path, kind, _recorded_at(path, kind), path.stat().st_size))
                except OSError:
                    continue  # deleted meanwhile
    return found


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def remove_empty_dirs(video_dir: Path, temp_dir: Path) -> None:
    """Date folders left empty by retention go too (deepest first); camera folders stay."""
    temp = temp_dir.resolve()
    for folder in sorted((p for p in video_dir.glob("*/**/") if p.is_dir()), key=lambda p: -len(p.parts)):
        if folder.resolve() == temp or temp in folder.resolve().parents or folder.parent == video_dir:
            continue
        with contextlib.suppress(OSError):
            folder.rmdir()  # fails, as it should, while anything is inside


FREE_CHECK_S = 30.0


class StorageKeeper:
    """Applies the retention policy off the capture path: at start-up, every ``interval`` seconds,
    and at once when asked (a clip was saved, a write hit a full disk)."""

    def __init__(
        self,
        video_dir: Path,
        temp_dir: Path,
        policy: Policy,
        log: Any,
        *,
        interval: float = 600.0,
        on_deleted: Callable[[list[Path]], None] | None = None,
    ) -> None:
        self.video_dir = video_dir
        self.temp_dir = temp_dir
        self.policy = policy
        self.log = log
        self.interval = interval
        self.on_deleted = on_deleted
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one pass at a time, whoever asks
        self._thread: threading.Thread | None = None
        self._shortfall: dict[str, int] = {}
        self.beat = time.monotonic()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="storage", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def join(self, deadline: float) -> None:
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))

    def request(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        last_pass = -math.inf
        while not self._stop.is_set():
            self.beat = time.monotonic()
            asked = self._wake.is_set()
            self._wake.clear()
            try:
                if asked or self.beat - last_pass >= self.interval or self._below_floor():
                    self.enforce()
                    last_pass = time.monotonic()
            except Exception as exc:  # a housekeeping failure must never stop recording
                self.log.exception("storage_error", error=f"{type(exc).__name__}: {exc}")
            self._wake.wait(FREE_CHECK_S)

    def _below_floor(self) -> bool:
        """A cheap statvfs between passes: free space under MIN_FREE_GB starts a pass at once."""
        try:
            return self.policy.min_free_bytes > 0 and free_bytes(self.video_dir) < self.policy.min_free_bytes
        except OSError:
            return False

    def enforce(self) -> int:
        """One retention pass; returns the bytes freed. Safe to call from any thread."""
        with self._lock:
            files = stored_files(self.video_dir, self.temp_dir)
            result = plan(files, time.time(), self.policy, free_bytes(self.video_dir))
            deleted: list[Path] = []
            for deletion in result.deletions:
                try:
                    deletion.file.path.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    self.log.error("delete_failed", path=str(deletion.file.path), error=exc.strerror or str(exc))
                    continue
                deleted.append(deletion.file.path)
                self.log.info(
                    "file_deleted", path=str(deletion.file.path), reason=deletion.reason, size=deletion.file.size
                )
            if deleted:
                remove_empty_dirs(self.video_dir, self.temp_dir)
                if self.on_deleted is not None:
                    self.on_deleted(deleted)
            if result.shortfall != self._shortfall:
                for limit, missing in result.shortfall.items():
                    self.log.error("storage_limit_unreachable", limit=limit, missing_mb=round(missing / 1e6, 1))
                self._shortfall = result.shortfall
            return sum(d.file.size for d in result.deletions if d.file.path in deleted)
