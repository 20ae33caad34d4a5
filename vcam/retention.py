"""What to delete so the recordings never fill the disk. Pure: a list of files in, deletions out.

Files are deleted for a reason (age, the size cap, the free-space floor) and never for nothing:
if deleting everything allowed would still not meet a limit, nothing is deleted for that limit and
the shortfall is reported. For the caps, continuous footage goes first (segments without motion,
then those with motion, oldest first), then clips and snapshots, oldest first. The newest clip is
always kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["clip", "snapshot", "event", "segment"]
DAY = 86400.0


@dataclass(frozen=True)
class StoredFile:
    path: Path
    kind: Kind
    time: float  # epoch seconds it was recorded
    size: int
    camera: str = ""  # whose folder it is in
    motion: bool = False  # a continuous segment with motion in it (the event log says)

    @property
    def rank(self) -> int:
        """Which goes first when a cap needs room: continuous footage, then the rest."""
        if self.kind == "segment":
            return 1 if self.motion else 0
        return 2


@dataclass(frozen=True)
class Ages:
    """One camera's own retention (a camera of the cameras file may set its own)."""

    camera: str
    retention_days: float
    snapshot_retention_days: float
    continuous_retention_days: float = 3.0
    motion_segment_retention_days: float = 7.0


@dataclass(frozen=True)
class Policy:
    retention_days: float = 0.0  # clips and event snapshots; 0 = keep whatever the space allows
    snapshot_retention_days: float = 0.0
    continuous_retention_days: float = 0.0  # continuous segments without motion
    motion_segment_retention_days: float = 0.0
    max_storage_bytes: int = 0  # 0 = no cap
    min_free_bytes: int = 0
    cameras: tuple[Ages, ...] = ()  # per camera; files of other cameras (no longer configured) get the above

    def expires(self, f: StoredFile) -> float | None:
        """When a file reaches its age limit (epoch seconds); None if it is kept while space allows."""
        ages = self.ages(f.camera)
        if f.kind == "segment":
            days = ages.motion_segment_retention_days if f.motion else ages.continuous_retention_days
        elif f.kind == "snapshot":
            days = ages.snapshot_retention_days
        else:
            days = ages.retention_days
        return f.time + days * DAY if days > 0 else None

    def ages(self, camera: str) -> Ages:
        """A camera's own ages, or the process-wide ones (a camera no longer configured)."""
        own = next((a for a in self.cameras if a.camera == camera), None)
        if own is not None:
            return own
        return Ages(
            camera,
            self.retention_days,
            self.snapshot_retention_days,
            self.continuous_retention_days,
            self.motion_segment_retention_days,
        )


@dataclass(frozen=True)
class Deletion:
    file: StoredFile
    reason: Literal["age", "max_storage", "min_free"]


@dataclass(frozen=True)
class Plan:
    deletions: list[Deletion]
    shortfall: dict[str, int]  # limit -> bytes still missing, where a limit cannot be met


def plan(files: Iterable[StoredFile], now: float, policy: Policy, free_bytes: int) -> Plan:
    remaining = sorted(files, key=lambda f: (f.time, str(f.path)))
    deletions: list[Deletion] = []
    shortfall: dict[str, int] = {}

    def expired(f: StoredFile) -> bool:
        expires = policy.expires(f)
        return expires is not None and now > expires

    for f in remaining:
        if expired(f):
            deletions.append(Deletion(f, "age"))
    freed = sum(d.file.size for d in deletions)
    remaining = [f for f in remaining if not expired(f)]
    clips = [f for f in remaining if f.kind == "clip"]
    newest_clip = clips[-1] if clips else None
    deletable = sorted((f for f in remaining if f is not newest_clip), key=lambda f: f.rank)  # stable: oldest first

    if policy.max_storage_bytes > 0:
        excess = sum(f.size for f in remaining) - policy.max_storage_bytes
        chosen, missing = _oldest_covering(deletable, excess)
        if missing > 0:
            shortfall["max_storage"] = missing
        else:
            deletions += [Deletion(f, "max_storage") for f in chosen]
            freed += sum(f.size for f in chosen)
            deletable = deletable[len(chosen) :]

    if policy.min_free_bytes > 0:
        need = policy.min_free_bytes - (free_bytes + freed)
        chosen, missing = _oldest_covering(deletable, need)
        if missing > 0:
            shortfall["min_free"] = missing
        else:
            deletions += [Deletion(f, "min_free") for f in chosen]
    return Plan(deletions, shortfall)


def _oldest_covering(files: list[StoredFile], need: int) -> tuple[list[StoredFile], int]:
    """The oldest files whose sizes add up to ``need``; (all of them, what is still missing) if they cannot."""
    if need <= 0:
        return [], 0
    chosen: list[StoredFile] = []
    total = 0
    for f in files:
        if total >= need:
            break
        chosen.append(f)
        total += f.size
    return (chosen, 0) if total >= need else ([], need - total)
