"""Which e-mail alerts are due: a camera down for ALERT_AFTER (and back), motion (at most
ALERT_MAX_PER_HOUR a camera), storage that retention cannot keep within its limits. Pure: events
and the time in, alerts out; mail.py sends them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from vcam import bus
from vcam.notify.messages import Presence, iso

HOUR_S = 3600.0


@dataclass(frozen=True)
class Alert:
    subject: str
    body: str
    attachment: Path | None = None


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _reason(event: bus.CameraLost) -> str:
    return f"{event.reason}: {event.detail}" if event.detail else event.reason


class Alerts:
    def __init__(
        self, cameras: tuple[str, ...], *, after: float, on_motion: bool, max_per_hour: int, started: float
    ) -> None:
        self.after = after
        self.on_motion = on_motion
        self.max_per_hour = max_per_hour
        self.presence = Presence(cameras)
        self._down: dict[str, tuple[float, str]] = {c: (started, "no picture since vcam started") for c in cameras}
        self._told_down: dict[str, float] = {}  # camera: since when it was down, for the "back" alert
        self._motion: dict[str, deque[float]] = {c: deque() for c in cameras}
        self._unsent: dict[str, int] = dict.fromkeys(cameras, 0)  # motion alerts over the hour's limit
        self._storage_told: set[str] = set()

    def event(self, event: bus.Event) -> list[Alert]:
        if isinstance(event, bus.CameraLost) and event.camera in self._down:  # why it is still down
            self._down[event.camera] = (self._down[event.camera][0], _reason(event))
        changed = self.presence.update(event)
        if changed is not None and isinstance(event, (bus.CameraConnected, bus.CameraLost)):
            return self._presence(event, changed)
        if isinstance(event, bus.MotionStarted) and self.on_motion and event.camera in self._motion:
            return self._motion_alert(event)
        if isinstance(event, bus.StorageLow):
            return self._storage(event)
        return []

    def due(self, now: float) -> list[Alert]:
        """Cameras down for ALERT_AFTER by now, each told once per outage."""
        alerts = []
        for camera, (since, reason) in self._down.items():
            if camera not in self._told_down and now - since >= self.after:
                self._told_down[camera] = since
                alerts.append(
                    Alert(
                        f"vcam: camera {camera} is offline",
                        f"Camera {camera} has given no picture since {iso(since)} ({minutes(now - since)}).\n"
                        f"Reason: {reason}\n\nvcam keeps trying and mails again when it is back.",
                    )
                )
        return alerts

    def _presence(self, event: bus.CameraConnected | bus.CameraLost, online: bool) -> list[Alert]:
        camera = event.camera
        if not online:
            assert isinstance(event, bus.CameraLost)
            self._down[camera] = (event.at, _reason(event))
            return []
        self._down.pop(camera, None)
        since = self._told_down.pop(camera, None)
        if since is None:
            return []
        return [
            Alert(
                f"vcam: camera {camera} is back",
                f"Camera {camera} is streaming again since {iso(event.at)}, after {minutes(event.at - since)} offline.",
            )
        ]

    def _motion_alert(self, event: bus.MotionStarted) -> list[Alert]:
        sent = self._motion[event.camera]
        while sent and event.start - sent[0] >= HOUR_S:
            sent.popleft()
        if len(sent) >= self.max_per_hour:
            self._unsent[event.camera] += 1
            return []
        sent.append(event.start)
        unsent, self._unsent[event.camera] = self._unsent[event.camera], 0
        note = f"\n{unsent} more events were not mailed (ALERT_MAX_PER_HOUR={self.max_per_hour})." if unsent else ""
        return [
            Alert(
                f"vcam: motion on {event.camera}",
                f"Motion on camera {event.camera} at {iso(event.start)}, {event.area:g}% of the picture.{note}",
                event.snapshot,
            )
        ]

    def _storage(self, event: bus.StorageLow) -> list[Alert]:
        if event.missing > 0 and event.limit not in self._storage_told:
            self._storage_told.add(event.limit)
            return [
                Alert(
                    "vcam: storage is nearly full",
                    f"Deleting old clips cannot keep the {event.limit} limit: {event.missing / 1e6:.0f} MB short.\n"
                    "New clips may fail until space is freed or the limit is changed.",
                )
            ]
        if event.missing == 0 and event.limit in self._storage_told:
            self._storage_told.discard(event.limit)
            return [Alert("vcam: storage is fine again", f"The {event.limit} limit is met again.")]
        return []
