"""Every path and file name vcam writes, and reading them back: the one place for these rules.

VIDEO_DIR/<camera>/<YYYY-MM-DD>/<camera>_<YYYYmmdd_HHMMSS>[_partial][_N].mp4   clips
VIDEO_DIR/<camera>/events/<YYYY-MM-DD>/<HH_MM_SS>[_N].jpg                        event snapshots
VIDEO_DIR/<camera>/snapshots/<YYYY-MM-DD>/<HH_MM_SS>[_N].jpg                     periodic snapshots
VIDEO_DIR/<camera>/continuous/<YYYY-MM-DD>/<HH>/<camera>_<YYYYmmddTHHMMSS>Z[_partial][_N].mp4
                                                                                  continuous segments (UTC)
TEMP_DIR/<camera>/<clip name>.<start in ms since the epoch>.<pid>.mp4            clips being written
TEMP_DIR/<camera>/continuous/<segment name>.<start in ms>.<pid>.mp4              segments being written
TEMP_DIR/<camera>/.lock                                                          held by the daemon recording it
TEMP_DIR/health.<pid>.json                                                       each daemon's health

Clip and snapshot names are local time, the way a person browses recordings. A name that is taken
(the hour that repeats when daylight saving time ends) gets _2, _3…: nothing is ever overwritten.
Continuous segments, back to back around the clock, are named in UTC (the Z says so): no hour
repeats or goes missing at a daylight saving change; a clock set back still gets _2. Temporary
clip names carry the exact start (so a clip recovered after a crash is named and dated by its
first frame) and the writer's pid (so two processes never share a file).
"""

from __future__ import annotations

import calendar
import re
import time
from pathlib import Path, PurePosixPath
from typing import Literal

Kind = Literal["clip", "snapshot", "event", "segment"]

SNAPSHOTS = "snapshots"
EVENTS = "events"
CONTINUOUS = "continuous"
PARTIAL = "_partial"
LOCK_NAME = ".lock"


def camera_dir(video_dir: Path, camera: str) -> Path:
    return video_dir / camera


def day(wall: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(wall))


def clip_name(camera: str, wall: float) -> str:
    return f"{camera}_{time.strftime('%Y%m%d_%H%M%S', time.localtime(wall))}"


def unused(path: Path) -> Path:
    """``path``, or the same name with _2, _3… if it exists: never overwrite a recording."""
    candidate, number = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}_{number}{path.suffix}")
        number += 1
    return candidate


def clip_path(video_dir: Path, camera: str, name: str, wall: float, partial: bool = False) -> Path:
    """Where a finished clip goes (unique)."""
    stem = f"{name}{PARTIAL}" if partial else name
    return unused(camera_dir(video_dir, camera) / day(wall) / f"{stem}.mp4")


def _picture_path(video_dir: Path, camera: str, kind: str, wall: float) -> Path:
    stem = time.strftime("%H_%M_%S", time.localtime(wall))
    return unused(camera_dir(video_dir, camera) / kind / day(wall) / f"{stem}.jpg")


def snapshot_path(video_dir: Path, camera: str, wall: float) -> Path:
    return _picture_path(video_dir, camera, SNAPSHOTS, wall)


def event_snapshot_path(video_dir: Path, camera: str, wall: float) -> Path:
    return _picture_path(video_dir, camera, EVENTS, wall)


def segment_name(camera: str, wall: float) -> str:
    return f"{camera}_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(wall))}"


def segment_path(video_dir: Path, camera: str, name: str, wall: float, partial: bool = False) -> Path:
    """Where a finished continuous segment goes (unique): its UTC day and hour."""
    stem = f"{name}{PARTIAL}" if partial else name
    folder = camera_dir(video_dir, camera) / CONTINUOUS / time.strftime("%Y-%m-%d/%H", time.gmtime(wall))
    return unused(folder / f"{stem}.mp4")


def temp_camera_dir(temp_dir: Path, camera: str) -> Path:
    return temp_dir / camera


def lock_path(temp_dir: Path, camera: str) -> Path:
    return temp_camera_dir(temp_dir, camera) / LOCK_NAME


def temp_clip_path(temp_dir: Path, camera: str, wall: float, pid: int) -> Path:
    return temp_camera_dir(temp_dir, camera) / f"{clip_name(camera, wall)}.{round(wall * 1000)}.{pid}.mp4"


def temp_segment_path(temp_dir: Path, camera: str, wall: float, pid: int) -> Path:
    folder = temp_camera_dir(temp_dir, camera) / CONTINUOUS
    return folder / f"{segment_name(camera, wall)}.{round(wall * 1000)}.{pid}.mp4"


def temp_clips(temp_dir: Path, camera: str, *, segments: bool = False) -> list[Path]:
    """Clips (or continuous segments) being written, or left behind by a crash (hidden staging
    files excluded)."""
    folder = temp_camera_dir(temp_dir, camera)
    if segments:
        folder = folder / CONTINUOUS
    return sorted(p for p in folder.glob("*.mp4") if not p.name.startswith(".")) if folder.is_dir() else []


def staging_path(temp_clip: Path) -> Path:
    """The remuxed clip, beside the one being written, before it moves to VIDEO_DIR."""
    return temp_clip.with_name(f".{temp_clip.stem}.final.mp4")


def stale_staging(temp_dir: Path, camera: str) -> list[Path]:
    folder = temp_camera_dir(temp_dir, camera)
    return sorted([*folder.glob(".*.final.mp4"), *folder.glob(f"{CONTINUOUS}/.*.final.mp4")])


_TEMP_CLIP = re.compile(r"^(?P<name>.+)\.(?P<ms>\d+)\.(?P<pid>\d+)$")


def read_temp_clip(path: Path) -> tuple[str, float | None]:
    """(clip name, start in epoch seconds) of a temporary clip; None when the name does not say
    (a file from an older version, named just ``<clip name>.mp4``)."""
    match = _TEMP_CLIP.match(path.stem)
    if match is None:
        return path.stem, None
    return match["name"], int(match["ms"]) / 1000


def tls_paths(state_dir: Path) -> tuple[Path, Path]:
    """The web UI's self-signed certificate and its key (WEB_CERT=self-signed), beside the event database."""
    return state_dir / "vcam-web.crt", state_dir / "vcam-web.key"


def health_path(temp_dir: Path, pid: int) -> Path:
    return temp_dir / f"health.{pid}.json"


def health_files(temp_dir: Path) -> list[tuple[int, Path]]:
    """(pid, path) of every daemon's health file in TEMP_DIR."""
    found = []
    for path in temp_dir.glob("health.*.json"):
        pid = path.name.split(".")[1]
        if pid.isdigit():
            found.append((int(pid), path))
    return sorted(found)


# --- reading the recordings back ------------------------------------------------------------

STORED_PATTERNS: tuple[tuple[str, Kind], ...] = (
    ("*/*.mp4", "clip"),
    (f"{SNAPSHOTS}/*/*.jpg", "snapshot"),
    (f"{EVENTS}/*/*.jpg", "event"),
    (f"{CONTINUOUS}/*/*/*.mp4", "segment"),
)


def stored_kind(relative: PurePosixPath) -> Kind | None:
    """What a path under VIDEO_DIR is, if it is a clip or a snapshot; None for anything else (the
    event database, TEMP_DIR, hidden files, folders): the only files the web UI ever serves."""
    parts = relative.parts
    if relative.is_absolute() or any(part.startswith(".") for part in parts):
        return None
    for pattern, kind in STORED_PATTERNS:
        shape = pattern.split("/")
        if len(parts) == 1 + len(shape) and PurePosixPath(*parts[1:]).match(pattern):
            return kind
    return None


_CLIP_STAMP = re.compile(r"_(\d{8}_\d{6})")
_SEGMENT_STAMP = re.compile(r"_(\d{8}T\d{6})Z")


def recorded_at(path: Path, kind: Kind) -> float | None:
    """When a stored file was recorded, from its name; None if the name does not say."""
    try:
        if kind == "segment":  # <camera>_YYYYmmddTHHMMSSZ[_partial][_2].mp4, UTC
            match = _SEGMENT_STAMP.search(path.stem)
            return None if match is None else float(calendar.timegm(time.strptime(match[1], "%Y%m%dT%H%M%S")))
        if kind == "clip":  # <camera>_YYYYmmdd_HHMMSS[_partial][_2].mp4
            match = _CLIP_STAMP.search(path.stem)
            if match is None:
                return None
            return time.mktime(time.strptime(match[1], "%Y%m%d_%H%M%S"))
        return time.mktime(time.strptime(f"{path.parent.name} {path.stem[:8]}", "%Y-%m-%d %H_%M_%S"))
    except (ValueError, OverflowError):
        return None


def is_partial(path: Path) -> bool:
    """A clip recovered after a crash: ``…_partial.mp4`` or ``…_partial_2.mp4``."""
    return PARTIAL in path.stem
