"""Retention decisions, pure: files in, deletions out."""

from __future__ import annotations

from pathlib import Path

from vcam.retention import DAY, Ages, Policy, StoredFile, plan

NOW = 1_800_000_000.0
MB = 1_000_000


def f(name: str, days_old: float, size_mb: float = 10, kind: str = "clip") -> StoredFile:
    return StoredFile(Path(name), kind, NOW - days_old * DAY, int(size_mb * MB))  # type: ignore[arg-type]


def deleted(result: object) -> list[tuple[str, str]]:
    return [(str(d.file.path), d.reason) for d in result.deletions]  # type: ignore[attr-defined]


def test_nothing_to_do_within_limits() -> None:
    files = [f("a", 1), f("b", 2)]
    result = plan(files, NOW, Policy(retention_days=30, max_storage_bytes=100 * MB, min_free_bytes=MB), 50 * MB)
    assert result.deletions == [] and result.shortfall == {}


def test_age_limits_clips_and_snapshots_separately() -> None:
    files = [
        f("old-clip", 31),
        f("clip", 5),
        f("old-snap", 8, 1, "snapshot"),
        f("snap", 2, 1, "snapshot"),
        f("old-event", 40, 1, "event"),
    ]
    result = plan(files, NOW, Policy(retention_days=30, snapshot_retention_days=7), 10**12)
    assert sorted(deleted(result)) == [("old-clip", "age"), ("old-event", "age"), ("old-snap", "age")]


def test_size_cap_deletes_oldest_first_until_under() -> None:
    files = [f("c3", 1), f("c1", 3), f("s1", 2.5, 5, "snapshot"), f("c2", 2)]
    result = plan(files, NOW, Policy(max_storage_bytes=22 * MB), 10**12)
    assert deleted(result) == [("c1", "max_storage"), ("s1", "max_storage")]


def test_free_space_floor_counts_what_the_other_rules_freed() -> None:
    files = [f("old", 40, 30), f("c1", 3), f("c2", 2), f("c3", 1)]
    result = plan(files, NOW, Policy(retention_days=30, min_free_bytes=45 * MB), 10 * MB)
    assert deleted(result) == [("old", "age"), ("c1", "min_free")]


def test_never_deletes_for_nothing() -> None:
    files = [f("c1", 3), f("c2", 2), f("c3", 1)]
    # the disk is full of something else: even deleting every clip would not give 1 GB
    result = plan(files, NOW, Policy(min_free_bytes=1000 * MB), 5 * MB)
    assert result.deletions == []
    assert result.shortfall == {"min_free": 1000 * MB - 5 * MB - 20 * MB}


def test_the_newest_clip_is_always_kept() -> None:
    files = [f("old", 2, 1), f("huge-newest", 0.1, 500)]
    result = plan(files, NOW, Policy(max_storage_bytes=100 * MB), 10**12)
    assert result.deletions == []  # deleting "old" would not bring 501 MB under 100 MB
    assert result.shortfall == {"max_storage": 400 * MB}


def test_keep_forever_when_no_limits() -> None:
    files = [f("ancient", 3650)]
    assert plan(files, NOW, Policy(), 0).deletions == []


def test_a_camera_may_keep_its_files_longer_or_shorter_than_the_rest() -> None:
    def of(camera: str, name: str, days_old: float, kind: str = "clip") -> StoredFile:
        return StoredFile(Path(name), kind, NOW - days_old * DAY, MB, camera)  # type: ignore[arg-type]

    files = [
        of("door", "door-clip", 20),
        of("yard", "yard-clip", 20),
        of("gone", "gone-clip", 40),  # a camera no longer configured: the default ages
        of("yard", "yard-snap", 3, "snapshot"),
        of("door", "door-new", 1),
    ]
    policy = Policy(
        retention_days=30,
        snapshot_retention_days=7,
        cameras=(Ages("door", 60, 7), Ages("yard", 14, 2)),
    )
    assert sorted(deleted(plan(files, NOW, policy, 10**12))) == [
        ("gone-clip", "age"),
        ("yard-clip", "age"),
        ("yard-snap", "age"),
    ]
