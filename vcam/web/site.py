"""What the web UI reads and changes, gathered in one object its handlers share: the settings,
the accounts, the event log, and each camera's stats, live view and switches. The UI reads stats
snapshots and subscribes to nothing on the capture path."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from vcam import layout, retention, storage
from vcam.config import Config
from vcam.eventlog import EventLog
from vcam.live import SWITCHES, Controls, LiveView
from vcam.web.accounts import Accounts
from vcam.web.auth import LoginLimiter, Pairings

if TYPE_CHECKING:
    from vcam.pipeline import CameraStats


@dataclass
class Camera:
    """One configured camera as the UI sees it."""

    name: str
    live: LiveView
    controls: Controls
    stats: Callable[[], CameraStats | None]  # None while its pipeline is being replaced
    record: Callable[[], bool]
    browser: bool = False  # a phone's or laptop's browser streams to it (url = "browser")


@dataclass
class Site:
    settings: Config
    accounts: Accounts
    events: EventLog
    cameras: dict[str, Camera]
    log: Any
    set_switch: Callable[[str, str, bool, str | None, str | None], bool]  # camera, switch, on, user, address
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    pairings: Pairings = field(default_factory=Pairings)

    @property
    def video_dir(self) -> Path:
        return self.settings.video_dir

    def camera(self, name: str) -> Camera:
        """The camera of a route, or the route's 404."""
        camera = self.cameras.get(name)
        if camera is None:
            raise web.HTTPNotFound(text=f"no camera {name!r}\n")
        return camera

    def relative(self, path: str | Path) -> str:
        """A stored file's path as the UI names it: relative to VIDEO_DIR, with '/'."""
        try:
            return Path(path).resolve().relative_to(self.video_dir.resolve()).as_posix()
        except ValueError:
            return Path(path).as_posix()


SITE = web.AppKey("site", Site)


def camera_state(site: Site, name: str) -> dict[str, Any]:
    """A camera as the UI and the API show it, from its stats snapshot and the event log."""
    camera = site.cameras[name]
    stats = camera.stats()
    now = time.time()
    newest = site.events.events(camera=name, newest=1)
    state = "starting" if stats is None else stats.state
    offline_since = None
    if stats is not None and not stats.connected:
        offline_since = now - stats.last_frame_age if stats.last_frame_age is not None else now - stats.running_for
    if state == "streaming":
        summary = "streaming" + (", recording" if stats is not None and stats.recording else "")
    elif offline_since is not None:
        why = f" ({stats.last_error})" if stats is not None and stats.last_error else ""
        verb = "offline since" if state == "down" else "waiting since"
        summary = f"{verb} {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(offline_since))}{why}"
    else:
        summary = state
    return {
        "name": name,
        "state": state,
        "summary": summary,
        "offline_since": offline_since,
        "fps": stats.fps_in if stats is not None else 0.0,
        "fps_analysed": stats.fps_analysed if stats is not None else 0.0,
        "recording": bool(stats and stats.recording),
        "motion": bool(stats and stats.motion),
        "last_clip": stats.last_clip if stats is not None else None,
        "last_event": newest[0].start if newest else None,
        "clips_saved": stats.clips_saved if stats is not None else 0,
        "reconnects": stats.reconnects if stats is not None else 0,
        "switches": {switch: camera.controls.get(switch) for switch in SWITCHES},
        "watched": camera.live.watched,
        "browser": camera.browser,
    }


def newest_snapshot(video_dir: Path, camera: str) -> Path | None:
    """The camera's newest periodic snapshot (shown while it is down), else its newest event picture."""
    for kind in (layout.SNAPSHOTS, layout.EVENTS):
        folder = layout.camera_dir(video_dir, camera) / kind
        try:
            days = sorted((d for d in folder.iterdir() if d.is_dir()), reverse=True)
            for day in days:
                pictures = sorted(p for p in day.glob("*.jpg") if not p.name.startswith("."))
                if pictures:
                    return pictures[-1]
        except OSError:
            continue
    return None


@dataclass(frozen=True)
class StorageSummary:
    used: int
    free: int | None
    by_camera: dict[str, int]
    by_day: dict[str, dict[str, int]]  # camera -> day -> bytes
    by_hour: dict[str, dict[str, list[int]]]  # camera -> day -> 24 byte counts
    next_deletions: list[tuple[str, str, float, int]]  # (relative path, reason, when, bytes), soonest first
    shortfall: dict[str, int]


def storage_summary(settings: Config, now: float | None = None, limit: int = 20) -> StorageSummary:
    """Disk use per camera, day and hour, and what retention deletes next: reads the folders
    (run it off the event loop)."""
    now = time.time() if now is None else now
    files = storage.stored_files(settings.video_dir, settings.temp_dir)
    try:
        free: int | None = storage.free_bytes(settings.video_dir)
    except OSError:
        free = None
    by_camera: dict[str, int] = defaultdict(int)
    by_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_hour: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * 24))
    for f in files:
        by_camera[f.camera] += f.size
        day = layout.day(f.time)
        by_day[f.camera][day] += f.size
        by_hour[f.camera][day][time.localtime(f.time).tm_hour] += f.size
    policy = settings.retention
    due = retention.plan(files, now, policy, free if free is not None else 1 << 62)
    root = settings.video_dir
    soon: list[tuple[str, str, float, int]] = [
        (_rel(d.file.path, root), d.reason, now, d.file.size) for d in due.deletions
    ]
    if len(soon) < limit:  # then the files that reach their age next
        taken = {d.file.path for d in due.deletions}
        ahead = [(when, f) for f in files if f.path not in taken and (when := policy.expires(f)) is not None]
        ahead.sort(key=lambda item: item[0])
        soon += [(_rel(f.path, root), "age", when, f.size) for when, f in ahead[: limit - len(soon)]]
    return StorageSummary(
        used=sum(by_camera.values()),
        free=free,
        by_camera=dict(by_camera),
        by_day={c: dict(sorted(d.items(), reverse=True)) for c, d in by_day.items()},
        by_hour={c: {day: list(h) for day, h in d.items()} for c, d in by_hour.items()},
        next_deletions=soon[:limit],
        shortfall=due.shortfall,
    )


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
