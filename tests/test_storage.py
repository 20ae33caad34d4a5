"""Keeping storage within its limits on real files; the event log and storage from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, Daemon, wait_until
from test_pipeline import RecordingLog

from vcam import bus, layout, storage
from vcam.eventlog import EventLog
from vcam.retention import DAY, Policy


def clip_file(video: Path, camera: str, age_days: float, size: int = 1000) -> Path:
    """A clip recorded ``age_days`` ago: named, and last modified, then."""
    wall = time.time() - age_days * DAY
    path = layout.clip_path(video, camera, layout.clip_name(camera, wall), wall)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    os.utime(path, (wall, wall))
    return path


def snapshot_file(video: Path, camera: str, age_days: float) -> Path:
    wall = time.time() - age_days * DAY
    path = layout.snapshot_path(video, camera, wall)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8" + b"\0" * 100)
    os.utime(path, (wall, wall))
    return path


def test_keeper_deletes_by_policy_logs_each_and_leaves_temp_alone(tmp_path: Path) -> None:
    video = tmp_path / "video"
    old = clip_file(video, "cam", 40)
    recent = clip_file(video, "cam", 1)
    old_snapshot = snapshot_file(video, "cam", 10)
    snapshot = snapshot_file(video, "cam", 1)
    writing = video / ".tmp" / "cam" / "cam_20200101_000000.mp4"
    writing.parent.mkdir(parents=True)
    writing.write_bytes(b"\0" * 10)
    told: list[bus.Event] = []
    log = RecordingLog()
    keeper = storage.StorageKeeper(
        video, video / ".tmp", Policy(retention_days=30, snapshot_retention_days=7), log, publish=told.append
    )
    keeper.enforce()
    assert not old.exists() and not old_snapshot.exists()
    assert recent.exists() and snapshot.exists() and writing.exists()
    assert not old.parent.exists() and not old_snapshot.parent.exists()  # emptied date folders went too
    assert sorted(e["reason"] for e in log.named("file_deleted")) == ["age", "age"]
    assert len(told) == 1 and isinstance(told[0], bus.FilesDeleted)
    assert sorted(told[0].paths) == sorted([old, old_snapshot]) and told[0].reasons == ("age", "age")


def test_stored_files_reads_times_from_names(tmp_path: Path) -> None:
    video = tmp_path / "video"
    path = clip_file(video, "front_door", 3)
    partial = path.with_name(path.stem + "_partial_2.mp4")
    partial.write_bytes(b"")
    found = {f.path: f for f in storage.stored_files(video, video / ".tmp")}
    assert abs(found[path].time - (time.time() - 3 * DAY)) < 2
    assert abs(found[partial].time - found[path].time) < 1


def test_unreachable_limit_is_logged_once(tmp_path: Path) -> None:
    video = tmp_path / "video"
    clip_file(video, "cam", 1)
    log = RecordingLog()
    told: list[bus.Event] = []
    keeper = storage.StorageKeeper(video, video / ".tmp", Policy(min_free_bytes=10**18), log, publish=told.append)
    keeper.enforce()
    keeper.enforce()
    (unreachable,) = log.named("storage_limit_unreachable")
    assert unreachable["limit"] == "min_free"
    assert len(told) == 1 and isinstance(told[0], bus.StorageLow) and told[0].limit == "min_free"
    assert told[0].missing > 0
    assert list(video.rglob("*.mp4"))  # nothing deleted for nothing


@pytest.mark.slow
def test_daemon_with_a_small_cap_stays_under_it_and_logs_every_clip(
    daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    video = tmp_path / "video"
    cap = 1_500_000
    proc = daemon("--demo", CLIP_SECONDS="4", PRE_SECONDS="1", MAX_STORAGE_GB=str(cap / 1e9), SNAPSHOT_INTERVAL="2")
    assert wait_until(lambda: len(proc.events("file_deleted")) >= 3, 120), proc.output()[-3000:]
    assert proc.terminate()[0] == 0
    on_disk = [f for f in storage.stored_files(video, video / ".tmp")]
    clips = sorted(f.path for f in on_disk if f.kind == "clip")
    largest = max(f.size for f in on_disk)
    total = sum(f.size for f in on_disk)
    deletions = len(proc.events("file_deleted"))
    print(f"cap {cap} bytes: {total} bytes on disk in {len(on_disk)} files after {deletions} deletions")
    assert total <= cap + largest  # at most one clip over, between two passes
    newest = proc.events("clip_saved")[-1][1]["path"]
    assert Path(newest) in clips  # the newest clip is kept
    log = EventLog(video / "events.sqlite3")
    logged = sorted(Path(c.path) for c in log.clips())
    assert logged == clips  # every clip in VIDEO_DIR is in the event log, and no other
    assert log.events()


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vcam", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_events_and_clips_commands(tmp_path: Path) -> None:
    video = tmp_path / "video"
    log = EventLog(video / "events.sqlite3")
    start = time.time() - 3600
    event = log.event_started("front", start, None)
    log.event_ended(event, start + 12, 3.5)
    short = log.event_started("front", start + 100, None)
    log.event_ended(short, start + 101, 0.9)
    log.clip_saved(
        "front", video / "front/x.mp4", start=start - 3, duration=30, size=2_000_000, mode="annotated", partial=False
    )
    log.close()
    env = {"VIDEO_DIR": str(video), "TZ": "UTC"}
    listed = run_cli("events", env=env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 3 and lines[0].endswith("front    12.0 s  peak   3.5 %")
    assert "UTC" in lines[0] and lines[1].strip().endswith("front/x.mp4")
    rows = [
        json.loads(line) for line in run_cli("events", "--min-duration", "5", "--json", env=env).stdout.splitlines()
    ]
    assert [r["id"] for r in rows] == [event]
    assert rows[0]["clips"] == [str(video / "front/x.mp4")]
    assert run_cli("events", "--since", "30m", env=env).stdout == ""
    assert len(run_cli("clips", "--camera", "front", env=env).stdout.splitlines()) == 1
    bad = run_cli("events", "--since", "yesterday", env=env)
    assert bad.returncode == 2 and "expected YYYY-MM-DD" in bad.stderr
    missing = run_cli("clips", env={"VIDEO_DIR": str(tmp_path / "nothing")})
    assert missing.returncode == 1 and "no event log" in missing.stderr


def test_a_clock_jumping_forward_never_ages_what_was_just_written(tmp_path: Path) -> None:
    """A Pi without a real-time clock boots with a stale time; NTP then moves it forward by weeks.
    Clips named before the jump must not look weeks old to retention."""
    video = tmp_path / "video"
    wall, mono = [time.time()], [100.0]
    clock = storage.FileClock(wall=lambda: wall[0], mono=lambda: mono[0])
    keeper = storage.StorageKeeper(video, video / ".tmp", Policy(retention_days=30), RecordingLog(), clock=clock)
    really_old = clip_file(video, "cam", 40)
    keeper.enforce()  # start-up pass: the 40-day-old clip goes, by its name
    assert not really_old.exists()
    just_written = clip_file(video, "cam", 0)
    mono[0] += 60
    keeper.enforce()  # seen appearing
    wall[0] += 45 * DAY  # NTP answers: the clock jumps six weeks ahead
    mono[0] += 60
    keeper.enforce()
    assert just_written.exists()
    mono[0] += 31 * DAY  # a month of real time later it has really aged
    wall[0] += 31 * DAY
    keeper.enforce()
    assert not just_written.exists()


def test_names_stay_unique_when_the_clock_repeats_an_hour(tmp_path: Path) -> None:
    wall = time.time()
    first = layout.clip_path(tmp_path, "cam", layout.clip_name("cam", wall), wall)
    first.parent.mkdir(parents=True)
    first.write_bytes(b"1")
    second = layout.clip_path(tmp_path, "cam", layout.clip_name("cam", wall), wall)  # the same local time again
    assert second != first and second.name == first.stem + "_2.mp4"
