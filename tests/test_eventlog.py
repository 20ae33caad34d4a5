"""The SQLite event log: rows, links, filters, reconcile, migrations, and a kill mid-write."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

from vcam.eventlog import MIGRATIONS, EventLog


@pytest.fixture
def log(tmp_path: Path) -> EventLog:
    return EventLog(tmp_path / "events.sqlite3")


def test_events_and_clips_are_linked_and_filtered(log: EventLog) -> None:
    first = log.event_started("front", 1000.0, "front/events/a.jpg")
    log.event_ended(first, 1012.5, 4.2)
    second = log.event_started("back", 2000.0, None)
    log.clip_saved("front", Path("front/d/c1.mp4"), start=997.0, duration=30, size=5, mode="annotated", partial=False)
    log.clip_saved("back", Path("back/d/c2.mp4"), start=1997.0, duration=30, size=6, mode="passthrough", partial=True)
    events = log.events()
    assert [(e.id, e.camera, e.end, e.peak_area) for e in events] == [
        (first, "front", 1012.5, 4.2),
        (second, "back", None, 0),
    ]
    assert [c.path for c in log.clips(event_id=first)] == ["front/d/c1.mp4"]
    assert [c.event_id for c in log.clips()] == [first, second]
    assert [e.id for e in log.events(camera="back")] == [second]
    assert [e.id for e in log.events(since=1500)] == [second]
    assert [e.id for e in log.events(until=1500)] == [first]
    assert [e.id for e in log.events(min_duration=10)] == [first]
    assert log.clips(camera="back")[0].partial is True


def test_reconcile_drops_rows_of_missing_files_and_adds_unlogged_clips(log: EventLog, tmp_path: Path) -> None:
    log.clip_saved("cam", tmp_path / "gone.mp4", start=1.0, duration=30, size=1, mode="annotated", partial=False)
    kept = tmp_path / "kept.mp4"
    log.clip_saved("cam", kept, start=2.0, duration=30, size=1, mode="annotated", partial=False)
    open_event = log.event_started("cam", 5.0, None)
    removed, added = log.reconcile([("cam", kept, 2.0, 1), ("cam", tmp_path / "cam_x_partial.mp4", 9.0, 3)])
    assert (removed, added) == (1, 1)
    assert sorted(Path(c.path).name for c in log.clips()) == ["cam_x_partial.mp4", "kept.mp4"]
    assert [c.partial for c in log.clips()] == [False, True]
    assert log.events()[0].end == 5.0 and log.events()[0].id == open_event  # closed where it began


def test_forget_deleted_files(log: EventLog) -> None:
    event = log.event_started("cam", 1.0, "cam/events/x.jpg")
    log.clip_saved("cam", Path("cam/d/c.mp4"), start=0.0, duration=30, size=1, mode="annotated", partial=False)
    log.forget([Path("cam/d/c.mp4"), Path("cam/events/x.jpg")])
    assert log.clips() == []
    assert log.events()[0].snapshot is None and log.events()[0].id == event


def test_schema_is_versioned(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite3"
    EventLog(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    EventLog(path).close()  # opening again migrates nothing and fails nothing


WRITER = """
import sys, time
from pathlib import Path
from vcam.eventlog import EventLog
log = EventLog(Path(sys.argv[1]))
i = 0
while True:
    e = log.event_started("cam", float(i), None)
    log.clip_saved("cam", Path(f"c{i}.mp4"), start=float(i), duration=1.0, size=1, mode="annotated", partial=False)
    log.event_ended(e, i + 0.5, 1.0)
    i += 1
    if i == 50:
        print("writing", flush=True)
"""


def test_database_survives_sigkill_mid_write(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite3"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    time.sleep(0.3)
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    writer.stdout.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    log = EventLog(path)
    events, clips = log.events(), log.clips()
    assert len(events) >= 50 and len(clips) >= 50
    assert len(clips) in (len(events), len(events) - 1)  # killed between two writes at most


def test_an_event_cut_off_by_a_kill_ends_at_its_last_saved_motion(log: EventLog) -> None:
    killed = log.event_started("front", 1000.0, None)
    log.event_progress(killed, 1006.0, 7.5)  # saved while it went on
    never = log.event_started("front", 2000.0, None)  # killed before any progress
    done = log.event_started("front", 3000.0, None)
    log.event_progress(done, 3004.0, 2.0)
    log.event_ended(done, 3009.0, 3.0)
    log.reconcile([])
    ends = {e.id: (e.end, e.peak_area) for e in log.events()}
    assert ends == {killed: (1006.0, 7.5), never: (2000.0, 0.0), done: (3009.0, 3.0)}


def test_every_clip_showing_an_event_is_listed_with_it(log: EventLog) -> None:
    """Also a clip that started before the event (motion resumed while it was recording)."""
    first = log.event_started("front", 1000.0, None)
    log.event_ended(first, 1005.0, 1.0)
    log.clip_saved("front", Path("a.mp4"), start=997.0, duration=30, size=1, mode="annotated", partial=False)
    second = log.event_started("front", 1020.0, None)  # during a.mp4
    log.event_ended(second, 1040.0, 1.0)
    log.clip_saved("front", Path("b.mp4"), start=1027.0, duration=30, size=1, mode="annotated", partial=False)
    log.clip_saved("back", Path("c.mp4"), start=1020.0, duration=30, size=1, mode="annotated", partial=False)
    events = {e.id: e for e in log.events()}
    assert [c.path for c in log.clips_covering(events[first])] == ["a.mp4"]
    assert [c.path for c in log.clips_covering(events[second])] == ["a.mp4", "b.mp4"]
