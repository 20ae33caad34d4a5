"""Where files go, and writing them so that only whole files ever appear."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import math
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vcam import bus, layout, threads
from vcam.retention import Policy, StoredFile, plan


def make_folder(folder: Path, root: Path) -> None:
    """Make ``folder`` and its parents up to ``root``, which must exist: when a USB disk is
    unplugged or an SD card is not mounted, recordings must not quietly fill the disk below."""
    if not root.exists():
        raise FileNotFoundError(errno.ENOENT, f"{root} is gone (disk unplugged or not mounted?)", str(root))
    folder.mkdir(parents=True, exist_ok=True)


def atomic_write(path: Path, data: bytes, *, root: Path, durable: bool = True) -> None:
    """Write beside the target under a hidden name, fsync, then rename: readers see all or nothing.
    Folders are made below ``root`` (see make_folder). ``durable=False`` skips the fsync for files
    rewritten every second (no SD card wear)."""
    make_folder(path.parent, root)
    partial = path.with_name(f".{path.name}.part")
    try:
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):  # a read-only disk: there is nothing to clean up on it
            partial.unlink(missing_ok=True)
        raise


class Locked(Exception):
    """Another process holds the lock; ``holder`` is its pid as it wrote it, if readable."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def hold_lock(path: Path) -> int:
    """Take an exclusive lock on ``path`` for the life of this process (the kernel drops it when the
    process ends, however it ends); returns the open descriptor. Raises Locked if another has it."""
    path.parent.mkdir(exist_ok=True)
    # held open read-only: a file open for writing would keep its disk from being remounted read-only
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise Locked(holder or "?") from None
    with contextlib.suppress(OSError), open(path, "w") as note:  # who holds it, for a second daemon's message
        note.write(f"{os.getpid()}\n")  # (a file another user made stays theirs: the lock still holds)
    return fd


def disk_problem(*folders: Path) -> str | None:
    """Why nothing can be written in these folders, if their disk is the reason: gone (unplugged,
    not mounted) or read-only. None when the disk looks fine (the error was something else)."""
    for folder in folders:
        if not folder.exists():
            return f"{folder} is gone (disk unplugged or not mounted?)"
        try:
            if _read_only(folder):
                return f"{folder}: Read-only file system (remounted read-only after disk errors?)"
        except OSError:
            return f"{folder} cannot be read (disk failing?)"
    return None


def check_could_write(folder: Path) -> None:
    """Like check_writable, creating nothing: ``folder`` is a writable folder, or the nearest
    folder that exists above it is one it could be made in. Raises OSError if not."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
    if not os.access(existing, os.W_OK | os.X_OK):
        code = errno.EROFS if _read_only(existing) else errno.EACCES
        raise PermissionError(code, os.strerror(code), str(existing))


def _read_only(folder: Path) -> bool:
    return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)


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


def stored_files(video_dir: Path, temp_dir: Path) -> list[StoredFile]:
    """Clips and snapshots of every camera; never what is being written (TEMP_DIR, hidden files)."""
    found: list[StoredFile] = []
    if not video_dir.is_dir():
        return found
    temp = temp_dir.resolve()
    try:
        cameras = sorted(p for p in video_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return found  # the folder went meanwhile (the disk unplugged)
    for camera in cameras:
        if camera.resolve() == temp:
            continue
        for pattern, kind in layout.STORED_PATTERNS:
            try:
                paths = list(camera.glob(pattern))
            except OSError:
                continue  # the folder went meanwhile (deleted, or the disk unplugged)
            for path in paths:
                if path.name.startswith("."):
                    continue
                try:
                    stat = path.stat()
                except OSError:
                    continue  # deleted meanwhile
                named = layout.recorded_at(path, kind)
                when = stat.st_mtime if named is None else named
                found.append(StoredFile(path, kind, when, stat.st_size, camera.name))
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
RECENT_S = 3600.0  # at start-up, a file modified this recently counts as written now


class FileClock:
    """When each stored file was written, on a clock that survives wall-clock jumps.

    Names carry the wall clock of the moment they were written. A Pi without a real-time clock
    boots with a stale time and jumps forward when NTP answers: clips named before the jump would
    look days old and retention would delete them. So a file this process saw appear is dated by
    the monotonic clock: the current wall time minus how long ago it appeared. Files found at
    start-up keep their names' times, except those modified in the last hour, which count as
    modified then."""

    def __init__(self, wall: Callable[[], float] = time.time, mono: Callable[[], float] = time.monotonic) -> None:
        self.wall = wall
        self.mono = mono
        self._seen: dict[Path, float] = {}  # path -> monotonic time it was first seen
        self._started = False

    def dated(self, files: list[StoredFile]) -> list[StoredFile]:
        wall, mono = self.wall(), self.mono()
        present = set()
        dated = []
        for f in files:
            present.add(f.path)
            seen = self._seen.get(f.path)
            if seen is None:
                seen = mono if self._started else self._from_mtime(f.path, wall, mono)
                self._seen[f.path] = seen
            dated.append(f if seen == -math.inf else dataclasses.replace(f, time=wall - (mono - seen)))
        self._seen = {p: t for p, t in self._seen.items() if p in present}
        self._started = True
        return dated

    @staticmethod
    def _from_mtime(path: Path, wall: float, mono: float) -> float:
        try:
            age = wall - path.stat().st_mtime
        except OSError:
            return -math.inf
        if age < 0:
            return mono  # modified "in the future": the clock went back since; it is new
        return mono - age if age < RECENT_S else -math.inf


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
        publish: Callable[[bus.Event], None] | None = None,
        clock: FileClock | None = None,
    ) -> None:
        self.video_dir = video_dir
        self.temp_dir = temp_dir
        self.policy = policy
        self.log = log
        self.interval = interval
        self.publish = publish  # FilesDeleted and StorageLow go there (the bus)
        self.clock = clock or FileClock()
        # the continuous segments with motion in them (the event log); None: none are known
        self.motion_segments: Callable[[], set[str]] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one pass at a time, whoever asks
        self._thread: threading.Thread | None = None
        self._shortfall: dict[str, int] = {}
        self.beat = time.monotonic()
        self.used_bytes: int | None = None  # in VIDEO_DIR at the last pass (metrics)
        self.deleted: dict[str, int] = {}  # files deleted, by reason (metrics)

    def start(self) -> None:
        self._thread = threads.start("storage", self._run)

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

    def _tell(self, event: bus.Event) -> None:
        if self.publish is not None:
            self.publish(event)

    def _below_floor(self) -> bool:
        """A cheap statvfs between passes: free space under MIN_FREE_GB starts a pass at once."""
        try:
            return self.policy.min_free_bytes > 0 and free_bytes(self.video_dir) < self.policy.min_free_bytes
        except OSError:
            return False

    def _marked(self, files: list[StoredFile]) -> list[StoredFile]:
        """Segments with motion marked as such. If the event log cannot say, every segment counts
        as having motion: kept the longer time, never deleted early by mistake."""
        if self.motion_segments is None or not any(f.kind == "segment" for f in files):
            return files
        try:
            marked: set[str] | None = self.motion_segments()
        except sqlite3.Error as exc:
            self.log.warning("storage_motion_unknown", error=str(exc))
            marked = None
        return [
            dataclasses.replace(f, motion=True)
            if f.kind == "segment" and (marked is None or str(f.path) in marked)
            else f
            for f in files
        ]

    def enforce(self) -> int:
        """One retention pass; returns the bytes freed. Safe to call from any thread."""
        with self._lock:
            try:
                free = free_bytes(self.video_dir)
            except OSError:
                return 0  # VIDEO_DIR is gone (the disk unplugged): the recorder says so; nothing to keep in limits
            files = self._marked(self.clock.dated(stored_files(self.video_dir, self.temp_dir)))
            result = plan(files, self.clock.wall(), self.policy, free)
            deleted: list[Path] = []
            reasons: list[str] = []
            for deletion in result.deletions:
                try:
                    deletion.file.path.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    self.log.error("delete_failed", path=str(deletion.file.path), error=exc.strerror or str(exc))
                    continue
                deleted.append(deletion.file.path)
                reasons.append(deletion.reason)
                self.deleted[deletion.reason] = self.deleted.get(deletion.reason, 0) + 1
                self.log.info(
                    "file_deleted", path=str(deletion.file.path), reason=deletion.reason, size=deletion.file.size
                )
            if deleted:
                remove_empty_dirs(self.video_dir, self.temp_dir)
                self._tell(bus.FilesDeleted(tuple(deleted), tuple(reasons)))
            for limit, missing in result.shortfall.items():  # said once per limit, not per changing amount
                if limit not in self._shortfall:
                    self.log.error("storage_limit_unreachable", limit=limit, missing_mb=round(missing / 1e6, 1))
                    self._tell(bus.StorageLow(limit, missing))
            for limit in self._shortfall.keys() - result.shortfall.keys():
                self.log.info("storage_limit_met", limit=limit)
                self._tell(bus.StorageLow(limit, 0))
            self._shortfall = result.shortfall
            freed = sum(d.file.size for d in result.deletions if d.file.path in deleted)
            self.used_bytes = sum(f.size for f in files) - freed
            return freed
