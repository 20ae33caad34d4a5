"""The event log: motion events, clips and continuous segments in SQLite (standard library), so they can be listed and
kept in step with the files. WAL mode and one short transaction per change: a daemon killed at any
moment leaves a consistent database; reconcile() at start-up mends rows whose files are gone."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcam import bus, layout


class EventLogWriter:
    """The event log as a subscriber of the bus: events and clips are written on its own thread,
    never on a camera's. The log is a record, not the recording: a database error is logged
    (once until it heals), never fatal."""

    def __init__(self, events: EventLog, log: Any) -> None:
        self.events = events
        self.log = log
        self._rows: dict[tuple[str, float], int] = {}  # open events: (camera, start) -> row id
        self._failing: str | None = None

    def handle(self, event: bus.Event) -> None:
        try:
            self._write(event)
        except sqlite3.Error as exc:
            if str(exc) != self._failing:
                self.log.error("eventlog_failed", error=str(exc), writing=type(event).__name__)
            self._failing = str(exc)
            return
        if self._failing is not None:
            self._failing = None
            self.log.info("eventlog_recovered")

    def _write(self, event: bus.Event) -> None:
        if isinstance(event, bus.MotionStarted):
            snapshot = None if event.snapshot is None else str(event.snapshot)
            self._rows[(event.camera, event.start)] = self.events.event_started(event.camera, event.start, snapshot)
        elif isinstance(event, bus.MotionProgress):
            row = self._rows.get((event.camera, event.start))
            if row is not None:
                self.events.event_progress(row, event.last_motion, event.peak_area)
        elif isinstance(event, bus.MotionEnded):
            row = self._rows.pop((event.camera, event.start), None)
            if row is not None:
                self.events.event_ended(row, event.end, event.peak_area)
        elif isinstance(event, bus.ClipSaved):
            self.events.clip_saved(
                event.camera,
                event.path,
                start=event.start,
                duration=event.duration,
                size=event.size,
                mode=event.mode,
                partial=event.partial,
            )
        elif isinstance(event, bus.SegmentSaved):
            self.events.segment_saved(
                event.camera,
                event.path,
                start=event.start,
                duration=event.duration,
                size=event.size,
                partial=event.partial,
            )
        elif isinstance(event, bus.FilesDeleted):
            self.events.forget(event.paths)


# Each entry moves the schema one version on; PRAGMA user_version says how far a database is.
MIGRATIONS = [
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        camera TEXT NOT NULL,
        start REAL NOT NULL,          -- UTC epoch seconds
        end REAL,                     -- NULL while the event goes on (or if the daemon died)
        peak_area REAL NOT NULL DEFAULT 0,
        snapshot TEXT
    );
    CREATE INDEX events_camera_start ON events (camera, start);
    CREATE TABLE clips (
        id INTEGER PRIMARY KEY,
        camera TEXT NOT NULL,
        path TEXT NOT NULL UNIQUE,
        start REAL NOT NULL,
        end REAL NOT NULL,
        duration REAL NOT NULL,
        size INTEGER NOT NULL,
        mode TEXT NOT NULL,
        partial INTEGER NOT NULL DEFAULT 0,
        event_id INTEGER REFERENCES events (id) ON DELETE SET NULL
    );
    CREATE INDEX clips_camera_start ON clips (camera, start);
    """,
    # the last motion seen while an event goes on, so an event cut off by a crash ends there
    "ALTER TABLE events ADD COLUMN last_motion REAL;",
    # the web UI: its users, their sessions and API tokens (only digests of the tokens), who did
    # what, and the switches set there that override the settings file
    """
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        password TEXT NOT NULL,       -- scrypt$N$r$p$salt$hash
        role TEXT NOT NULL,           -- admin | viewer
        created REAL NOT NULL
    );
    CREATE TABLE sessions (
        digest TEXT PRIMARY KEY,      -- SHA-256 of the cookie's token
        user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created REAL NOT NULL,
        seen REAL NOT NULL
    );
    CREATE TABLE api_tokens (
        digest TEXT PRIMARY KEY,
        user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        label TEXT NOT NULL,
        created REAL NOT NULL,
        used REAL
    );
    CREATE TABLE access_log (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        user TEXT,
        address TEXT,
        action TEXT NOT NULL,         -- login, logout, delete, record, switch, user_add, …
        detail TEXT,
        ok INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX access_log_at ON access_log (at);
    CREATE TABLE switches (
        camera TEXT NOT NULL,
        name TEXT NOT NULL,           -- detect | record | snapshots
        value INTEGER NOT NULL,
        changed REAL NOT NULL,
        user TEXT,
        PRIMARY KEY (camera, name)
    );
    """,
    # browser cameras: the device paired to each (a digest of the token in its cookie)
    """
    CREATE TABLE devices (
        digest TEXT PRIMARY KEY,
        camera TEXT NOT NULL UNIQUE,  -- one device a camera: pairing again replaces it
        created REAL NOT NULL,
        seen REAL
    );
    """,
    # continuous recording: its segments, and whether an event overlaps each (kept longer)
    """
    CREATE TABLE segments (
        id INTEGER PRIMARY KEY,
        camera TEXT NOT NULL,
        path TEXT NOT NULL UNIQUE,
        start REAL NOT NULL,          -- UTC epoch seconds of its first frame
        end REAL NOT NULL,
        size INTEGER NOT NULL,
        partial INTEGER NOT NULL DEFAULT 0,
        motion INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX segments_camera_start ON segments (camera, start);
    """,
]

# An event overlaps the span from ? to ? of a camera's recording (an open event goes on). The one
# rule for which event a clip shows and which segments have motion in them.
EVENT_OVERLAPS = "camera = ? AND start <= ? AND (end IS NULL OR end >= ?)"


def connect(path: Path) -> sqlite3.Connection:
    """The database, made or brought up to date: one connection, shared by threads under a lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, timeout=10, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a power cut loses at most the last commit
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("BEGIN IMMEDIATE")  # two processes opening it at once migrate it once
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in _statements(script):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        db.close()
        raise
    return db


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """All or nothing (the connection is in autocommit mode otherwise)."""
    db.execute("BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _statements(script: str) -> list[str]:
    """A migration's statements (executescript would commit the transaction between them)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


@dataclass(frozen=True)
class EventRow:
    id: int
    camera: str
    start: float
    end: float | None
    peak_area: float
    snapshot: str | None


@dataclass(frozen=True)
class SegmentRow:
    id: int
    camera: str
    path: str
    start: float
    end: float
    size: int
    partial: bool
    motion: bool


@dataclass(frozen=True)
class ClipRow:
    id: int
    camera: str
    path: str
    start: float
    end: float
    duration: float
    size: int
    mode: str
    partial: bool
    event_id: int | None


class EventLog:
    """Thread-safe: the workers and recorders of every camera write through one connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = connect(path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def event_started(self, camera: str, start: float, snapshot: str | None) -> int:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO events (camera, start, snapshot) VALUES (?, ?, ?)", (camera, start, snapshot)
            )
            self._mark_motion(camera, start, start)
            return int(cursor.lastrowid or 0)

    def event_progress(self, event_id: int, last_motion: float, peak_area: float) -> None:
        """How far an open event has got: where it ends if the daemon is killed before it does."""
        with self._lock:
            self._db.execute(
                "UPDATE events SET last_motion = ?, peak_area = ? WHERE id = ?", (last_motion, peak_area, event_id)
            )

    def event_ended(self, event_id: int, end: float, peak_area: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE events SET end = ?, last_motion = NULL, peak_area = ? WHERE id = ?", (end, peak_area, event_id)
            )
            row = self._db.execute("SELECT camera, start FROM events WHERE id = ?", (event_id,)).fetchone()
            if row is not None:
                self._mark_motion(row[0], row[1], end)

    def _mark_motion(self, camera: str, start: float, end: float) -> None:
        """Segments saved before the motion in them was known (under the lock)."""
        self._db.execute(
            "UPDATE segments SET motion = 1 WHERE camera = ? AND start <= ? AND end >= ? AND motion = 0",
            (camera, end, start),
        )

    def segment_saved(self, camera: str, path: Path, *, start: float, duration: float, size: int, partial: bool) -> int:
        """Records a continuous segment, marked if an event overlaps it."""
        end = start + duration
        with self._lock:
            cursor = self._db.execute(
                f"""INSERT OR REPLACE INTO segments (camera, path, start, end, size, partial, motion)
                    VALUES (?, ?, ?, ?, ?, ?, EXISTS (SELECT 1 FROM events WHERE {EVENT_OVERLAPS}))""",
                (camera, str(path), start, end, size, int(partial), camera, end, start),
            )
            return int(cursor.lastrowid or 0)

    def segments(
        self, camera: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[SegmentRow]:
        """Segments that show some of the time from ``since`` to ``until``, oldest first."""
        sql, args = f"{SEGMENT_COLUMNS} WHERE 1=1", list[object]()
        for condition, value in (("camera = ?", camera), ("end >= ?", since), ("start <= ?", until)):
            if value is not None:
                sql += f" AND {condition}"
                args.append(value)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY start", args).fetchall()
        return [SegmentRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), bool(r[7])) for r in rows]

    def segment_paths(self, *, motion: bool | None = None) -> set[str]:
        """Every segment's file, or those with (or without) motion."""
        sql = "SELECT path FROM segments" + ("" if motion is None else f" WHERE motion = {int(motion)}")
        with self._lock:
            return {row[0] for row in self._db.execute(sql)}

    def clip_saved(
        self, camera: str, path: Path, *, start: float, duration: float, size: int, mode: str, partial: bool
    ) -> int:
        """Records a clip, linked to the event it shows (the first one overlapping it)."""
        end = start + duration
        with self._lock:
            cursor = self._db.execute(
                f"""INSERT OR REPLACE INTO clips (camera, path, start, end, duration, size, mode, partial, event_id)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?,
                     (SELECT id FROM events WHERE {EVENT_OVERLAPS} ORDER BY start LIMIT 1))""",
                (camera, str(path), start, end, duration, size, mode, int(partial), camera, end, start),
            )
            return int(cursor.lastrowid or 0)

    def forget(self, paths: Iterable[Path | str]) -> None:
        """Files that retention deleted: their clip and segment rows go, and event rows lose the snapshot."""
        names = [str(p) for p in paths]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM clips WHERE path = ?", [(n,) for n in names])
            self._db.executemany("DELETE FROM segments WHERE path = ?", [(n,) for n in names])
            self._db.executemany("UPDATE events SET snapshot = NULL WHERE snapshot = ?", [(n,) for n in names])
            self._db.execute("COMMIT")

    def reconcile(self, clips_on_disk: Iterable[tuple[str, Path, float, int]]) -> tuple[int, int]:
        """Make the clip rows match the files: rows of missing files go, files without rows are added.
        ``clips_on_disk`` is (camera, path, start, size). Returns (removed, added)."""
        present = {str(path): (camera, start, size) for camera, path, start, size in clips_on_disk}
        with self._lock:
            known = {row[0] for row in self._db.execute("SELECT path FROM clips")}
            gone = [p for p in known if p not in present]
            new = [p for p in present if p not in known]
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM clips WHERE path = ?", [(p,) for p in gone])
            self._db.executemany(
                "UPDATE events SET snapshot = NULL WHERE snapshot IS NOT NULL AND snapshot = ?", [(p,) for p in gone]
            )
            self._db.execute("COMMIT")
        for path in new:
            camera, start, size = present[path]
            partial = layout.is_partial(Path(path))
            self.clip_saved(camera, Path(path), start=start, duration=0.0, size=size, mode="unknown", partial=partial)
        with self._lock:  # events the last run never closed (killed): they end at their last known motion
            self._db.execute("UPDATE events SET end = COALESCE(last_motion, start) WHERE end IS NULL")
        return len(gone), len(new)

    def events(
        self,
        camera: str | None = None,
        since: float | None = None,
        until: float | None = None,
        min_duration: float | None = None,
        newest: int | None = None,
    ) -> list[EventRow]:
        """Oldest first; with ``newest``, only that many of the newest, newest first."""
        sql, args = _filters(f"{EVENT_COLUMNS} WHERE 1=1", [], camera, since, until)
        if min_duration is not None:
            sql += " AND end IS NOT NULL AND end - start >= ?"
            args.append(min_duration)
        sql += " ORDER BY start" if newest is None else f" ORDER BY start DESC LIMIT {int(newest)}"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [EventRow(*row) for row in rows]

    def event(self, event_id: int) -> EventRow | None:
        with self._lock:
            row = self._db.execute(f"{EVENT_COLUMNS} WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else EventRow(*row)

    def clip(self, clip_id: int) -> ClipRow | None:
        rows = self._clip_rows(f"{CLIP_COLUMNS} WHERE id = ?", [clip_id])
        return rows[0] if rows else None

    def clip_at(self, path: str) -> ClipRow | None:
        rows = self._clip_rows(f"{CLIP_COLUMNS} WHERE path = ?", [path])
        return rows[0] if rows else None

    def remove_clip(self, clip_id: int) -> list[str]:
        """A clip deleted by a person: its row goes, and its event's when no other clip shows it.
        Returns the files that go with it (the event's snapshot), for the caller to delete."""
        with self._lock, transaction(self._db):
            row = self._db.execute("SELECT event_id FROM clips WHERE id = ?", (clip_id,)).fetchone()
            self._db.execute("DELETE FROM clips WHERE id = ?", (clip_id,))
            if row is None or row[0] is None:
                return []
            if self._db.execute("SELECT COUNT(*) FROM clips WHERE event_id = ?", (row[0],)).fetchone()[0]:
                return []
            snapshot = self._db.execute("SELECT snapshot FROM events WHERE id = ?", (row[0],)).fetchone()
            self._db.execute("DELETE FROM events WHERE id = ?", (row[0],))
            return [snapshot[0]] if snapshot is not None and snapshot[0] else []

    def clips_covering(self, event: EventRow) -> list[ClipRow]:
        """Every clip that shows some of the event, also one that began before it."""
        end = event.end if event.end is not None else event.start
        return self._clip_rows(
            f"{CLIP_COLUMNS} WHERE camera = ? AND start <= ? AND end >= ? ORDER BY start",
            [event.camera, end, event.start],
        )

    def clips(
        self,
        camera: str | None = None,
        since: float | None = None,
        until: float | None = None,
        event_id: int | None = None,
    ) -> list[ClipRow]:
        sql, args = _filters(f"{CLIP_COLUMNS} WHERE 1=1", [], camera, since, until)
        if event_id is not None:
            sql += " AND event_id = ?"
            args.append(event_id)
        return self._clip_rows(sql + " ORDER BY start", args)

    def _clip_rows(self, sql: str, args: list[object]) -> list[ClipRow]:
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [
            ClipRow(
                id=r[0],
                camera=r[1],
                path=r[2],
                start=r[3],
                end=r[4],
                duration=r[5],
                size=r[6],
                mode=r[7],
                partial=bool(r[8]),
                event_id=r[9],
            )
            for r in rows
        ]


EVENT_COLUMNS = "SELECT id, camera, start, end, peak_area, snapshot FROM events"
SEGMENT_COLUMNS = "SELECT id, camera, path, start, end, size, partial, motion FROM segments"
CLIP_COLUMNS = "SELECT id, camera, path, start, end, duration, size, mode, partial, event_id FROM clips"


def _filters(
    sql: str, args: list[object], camera: str | None, since: float | None, until: float | None
) -> tuple[str, list[object]]:
    if camera is not None:
        sql += " AND camera = ?"
        args.append(camera)
    if since is not None:
        sql += " AND start >= ?"
        args.append(since)
    if until is not None:
        sql += " AND start <= ?"
        args.append(until)
    return sql, args
