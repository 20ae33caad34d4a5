"""What the notifiers say: bus events as JSON-ready dicts, the same for MQTT, webhooks and hooks,
and whether a camera is online. Pure: times as ISO 8601 with the zone, paths relative to VIDEO_DIR,
and every text that could hold a URL passed through the masker first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from vcam import bus

Mask = Callable[[str], str]

MOTION_START = "motion_start"
MOTION_END = "motion_end"
CLIP_SAVED = "clip_saved"
CAMERA_ONLINE = "camera_online"
CAMERA_OFFLINE = "camera_offline"
TOLD = (MOTION_START, MOTION_END, CLIP_SAVED, CAMERA_ONLINE, CAMERA_OFFLINE)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="milliseconds")


def relative(path: Path | None, video_dir: Path) -> str | None:
    if path is None:
        return None
    try:
        return path.relative_to(video_dir).as_posix()
    except ValueError:
        return path.as_posix()


def describe(event: bus.Event, video_dir: Path, mask: Mask) -> dict[str, Any] | None:
    """The message for an event that is told outside, None for the others (progress, snapshots,
    retention: those are for the event log and metrics)."""
    if isinstance(event, bus.MotionStarted):
        return {
            "type": MOTION_START,
            "camera": event.camera,
            "start": iso(event.start),
            "area": event.area,
            "boxes": [list(box) for box in event.boxes],
            "snapshot": relative(event.snapshot, video_dir),
        }
    if isinstance(event, bus.MotionEnded):
        return {
            "type": MOTION_END,
            "camera": event.camera,
            "start": iso(event.start),
            "end": iso(event.end),
            "duration_s": round(event.end - event.start, 2),
            "peak_area": event.peak_area,
        }
    if isinstance(event, bus.ClipSaved):
        return {
            "type": CLIP_SAVED,
            "camera": event.camera,
            "clip": relative(event.path, video_dir),
            "start": iso(event.start),
            "duration_s": round(event.duration, 2),
            "size": event.size,
            "mode": event.mode,
            "partial": event.partial,
        }
    if isinstance(event, bus.CameraConnected):
        return {
            "type": CAMERA_ONLINE,
            "camera": event.camera,
            "at": iso(event.at),
            "stream": event.stream,
            "codec": event.codec,
            "width": event.width,
            "height": event.height,
        }
    if isinstance(event, bus.CameraLost):
        return {
            "type": CAMERA_OFFLINE,
            "camera": event.camera,
            "at": iso(event.at),
            "stream": event.stream,
            "reason": mask(event.reason),
            "detail": mask(event.detail),
        }
    return None


class Presence:
    """Which cameras are online: a camera is when every stream of it that connected is still
    streaming (the sub-stream too, without which nothing is detected). Before its first picture a
    camera is offline."""

    def __init__(self, cameras: tuple[str, ...]) -> None:
        self._lost: dict[str, set[str]] = {camera: {"main"} for camera in cameras}

    def online(self, camera: str) -> bool:
        return not self._lost.get(camera, {"main"})

    def update(self, event: bus.Event) -> bool | None:
        """The camera's new state if this event changed it, else None."""
        if not isinstance(event, (bus.CameraConnected, bus.CameraLost)):
            return None
        before = self.online(event.camera)
        lost = self._lost.setdefault(event.camera, set())
        if isinstance(event, bus.CameraConnected):
            lost.discard(event.stream)
        else:
            lost.add(event.stream)
        after = self.online(event.camera)
        return after if after != before else None
