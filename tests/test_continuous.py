"""Continuous recording: segment planning, names, joins, motion marks and retention by kind."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import pytest
import structlog
from conftest import decodes_cleanly, ffprobe, source_index, thumbnails, wait_until
from test_recorder import chunks_of, feed_slowly

from vcam import layout
from vcam.clipfiles import recover
from vcam.clips import Action, SegmentPlanner
from vcam.config import PASSTHROUGH, RecordSettings
from vcam.eventlog import EventLog
from vcam.recorder import Closed, Recorder
from vcam.retention import DAY, Policy, StoredFile, plan

# --- the plan -------------------------------------------------------------------------------


def test_segments_start_on_a_keyframe_and_are_cut_at_the_first_keyframe_past_their_length() -> None:
    planner = SegmentPlanner(4.0)
    assert planner.decide(0.0, keyframe=False) is Action.IDLE  # a copy cannot begin mid-group
    assert planner.decide(0.5, keyframe=True) is Action.START
    planner.started(0.5)
    assert planner.decide(3.0, keyframe=True) is Action.WRITE  # not long enough yet
    assert planner.decide(4.6, keyframe=False) is Action.WRITE  # long enough, but no keyframe
    assert planner.decide(5.0, keyframe=True) is Action.CUT
    planner.stopped()
    assert planner.decide(5.1, keyframe=False) is Action.IDLE


# --- names ----------------------------------------------------------------------------------


def test_segment_names_are_utc_so_the_hour_that_repeats_at_the_end_of_dst_never_collides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        first = 1792888200.0  # 2026-10-25 02:30 CEST (+02:00)
        second = first + 3600  # 02:30 again, now CET (+01:00)
        assert layout.day(first) == layout.day(second)  # the same local day and hour...
        names = [layout.segment_name("cam", t) for t in (first, second)]
        assert names == ["cam_20261025T003000Z", "cam_20261025T013000Z"]  # ...but not the same name
        paths = [layout.segment_path(tmp_path, "cam", n, t) for n, t in zip(names, (first, second), strict=True)]
        assert [p.parent.name for p in paths] == ["00", "01"]
        for path, t in zip(paths, (first, second), strict=True):
            assert layout.recorded_at(path, "segment") == t
            assert layout.stored_kind(PurePosixPath(path.relative_to(tmp_path).as_posix())) == "segment"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


# --- writing segments -----------------------------------------------------------------------


@pytest.fixture
def continuous(tmp_path: Path) -> Iterator[tuple[Recorder, list[Path]]]:
    (tmp_path / "video").mkdir()
    saved: list[Path] = []
    rec = Recorder(
        "cam",
        RecordSettings(PASSTHROUGH, clip_seconds=30, pre_seconds=1, record="continuous", segment_seconds=4),
        tmp_path / "video",
        tmp_path / "video" / ".tmp",
        structlog.get_logger(),
        on_saved=lambda clip: saved.append(clip.path),
    )
    rec.start()
    yield rec, saved
    rec.stop()
    rec.join(time.monotonic() + 10)


def test_consecutive_segments_join_with_no_frame_lost_or_twice(
    continuous: tuple[Recorder, list[Path]], make_clip: Callable[..., Path]
) -> None:
    recorder, saved = continuous
    source = make_clip(seconds=13, fps=10, gop_s=1.0)
    for opened, chunks in chunks_of(source):
        recorder.motion(1, 0.0, 100.0)  # RECORD=continuous: motion makes no clip
        feed_slowly(recorder, opened)
        for chunk in chunks:
            feed_slowly(recorder, chunk)
        feed_slowly(recorder, Closed(1))  # the camera went: the last segment is closed
    assert wait_until(lambda: recorder.segments_saved == 4, 10)
    assert recorder.saved == 0
    paths = sorted(saved)
    assert all(p.parent.parent.parent.name == "continuous" for p in paths)
    frames = [int(ffprobe(p)["nb_read_frames"]) for p in paths]
    print(f"segments of SEGMENT_SECONDS=4 from a 13 s, 1 s GOP stream: {frames} frames")
    assert frames == [40, 40, 40, 10]
    every = thumbnails(source)
    places = [[source_index(every, t) for t in thumbnails(p)] for p in paths]
    joined = [place for segment in places for place in segment]
    assert joined == list(range(130))  # frame by frame: each source frame once, in order
    assert all(decodes_cleanly(p) for p in paths)


def test_a_wall_clock_set_back_never_overwrites_a_segment(
    continuous: tuple[Recorder, list[Path]], make_clip: Callable[..., Path]
) -> None:
    recorder, saved = continuous
    source = make_clip(seconds=13, fps=10, gop_s=1.0)
    for opened, chunks in chunks_of(source):
        feed_slowly(recorder, opened)
        for chunk in chunks:
            # 8 s in, the clock goes back 8 s (an NTP correction): the third segment's name is the first's
            wall = chunk.wall - 8.0 if chunk.time >= 8.0 else chunk.wall
            feed_slowly(recorder, dataclasses.replace(chunk, wall=wall))
        feed_slowly(recorder, Closed(1))
    assert wait_until(lambda: recorder.segments_saved == 4, 10)
    names = sorted(p.name for p in saved)
    print(f"segment names across a clock set back 8 s: {names}")
    assert len(set(saved)) == 4 and all(p.exists() for p in saved)
    assert any(name.endswith("Z_2.mp4") for name in names)  # the name taken: _2, nothing overwritten


def test_recording_switched_off_pauses_the_segments(tmp_path: Path, make_clip: Callable[..., Path]) -> None:
    (tmp_path / "video").mkdir()
    allowed = [True]
    rec = Recorder(
        "cam",
        RecordSettings(PASSTHROUGH, record="continuous", segment_seconds=100),
        tmp_path / "video",
        tmp_path / "video" / ".tmp",
        structlog.get_logger(),
        allowed=lambda: allowed[0],
    )
    rec.start()
    try:
        for opened, chunks in chunks_of(make_clip(seconds=6, fps=10, gop_s=1.0)):
            feed_slowly(rec, opened)
            for chunk in chunks:
                allowed[0] = not (2.0 <= chunk.time < 4.0)
                feed_slowly(rec, chunk)
            feed_slowly(rec, Closed(1))
        assert wait_until(lambda: rec.segments_saved == 2, 10)
    finally:
        rec.stop()
        rec.join(time.monotonic() + 10)
    frames = sorted(int(ffprobe(p)["nb_read_frames"]) for p in (tmp_path / "video").rglob("continuous/*/*/*.mp4"))
    assert frames == [20, 20]  # 0-2 s and 4-6 s: nothing while the switch was off


def test_a_segment_killed_mid_write_is_recovered_as_partial(tmp_path: Path, make_clip: Callable[..., Path]) -> None:
    video, temp = tmp_path / "video", tmp_path / "video" / ".tmp"
    video.mkdir()
    rec = Recorder(
        "cam",
        RecordSettings(PASSTHROUGH, record="continuous", segment_seconds=100),
        video,
        temp,
        structlog.get_logger(),
    )
    rec.start()
    for opened, chunks in chunks_of(make_clip(seconds=6, fps=10, gop_s=1.0)):
        feed_slowly(rec, opened)
        for chunk in chunks:
            feed_slowly(rec, chunk)
    # as if killed: the thread is left alone, its fragmented file stays in TEMP_DIR
    (left,) = layout.temp_clips(temp, "cam", segments=True)
    os.sync()
    (clip,) = recover(temp, video, "cam", structlog.get_logger())
    assert clip.segment and clip.partial and clip.path.name.endswith("Z_partial.mp4")
    assert clip.path.parent.parent.parent.name == "continuous"
    assert clip.frames >= 40  # all but the last fragment (1 s GOP)
    assert not left.exists()
    rec.stop()  # (its own try to finish the file it lost is logged, and changes nothing)
    rec.join(time.monotonic() + 10)


# --- the event log's marks ------------------------------------------------------------------


def test_segments_overlapping_an_event_are_marked_whichever_is_written_first(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.sqlite3")
    try:
        before = log.segment_saved("cam", Path("/v/a.mp4"), start=100.0, duration=60.0, size=1, partial=False)
        event = log.event_started("cam", 150.0, None)  # motion seen after its segment was saved
        during = log.segment_saved("cam", Path("/v/b.mp4"), start=160.0, duration=60.0, size=1, partial=False)
        log.event_ended(event, 230.0, 5.0)
        after = log.segment_saved("cam", Path("/v/c.mp4"), start=220.0, duration=60.0, size=1, partial=False)
        later = log.segment_saved("cam", Path("/v/d.mp4"), start=280.0, duration=60.0, size=1, partial=False)
        other = log.segment_saved("yard", Path("/v/e.mp4"), start=160.0, duration=60.0, size=1, partial=False)
        marks = {row.id: row.motion for row in log.segments()}
        assert marks == {before: True, during: True, after: True, later: False, other: False}
        assert log.segment_paths(motion=True) == {"/v/a.mp4", "/v/b.mp4", "/v/c.mp4"}
        assert [r.path for r in log.segments("cam", since=200.0, until=250.0)] == ["/v/b.mp4", "/v/c.mp4"]
        log.forget([Path("/v/a.mp4")])
        assert "/v/a.mp4" not in log.segment_paths()
    finally:
        log.close()


# --- retention by kind ----------------------------------------------------------------------


def _file(name: str, kind: str, age_days: float, *, motion: bool = False, size: int = 10) -> StoredFile:
    return StoredFile(Path(name), kind, NOW - age_days * DAY, size, "cam", motion)  # type: ignore[arg-type]


NOW = 1_800_000_000.0


def test_continuous_footage_has_its_own_ages_and_goes_first_when_space_is_short() -> None:
    policy = Policy(retention_days=30, continuous_retention_days=3, motion_segment_retention_days=7)
    files = [
        _file("old-clip", "clip", 10),
        _file("quiet-4d", "segment", 4),
        _file("moving-4d", "segment", 4, motion=True),
        _file("moving-8d", "segment", 8, motion=True),
        _file("quiet-1d", "segment", 1),
        _file("moving-1d", "segment", 1, motion=True),
        _file("new-clip", "clip", 0.5),
    ]
    aged = plan(files, NOW, policy, free_bytes=10**12)
    assert sorted(str(d.file.path) for d in aged.deletions) == ["moving-8d", "quiet-4d"]
    capped = plan(files, NOW, dataclasses.replace(policy, max_storage_bytes=30), free_bytes=10**12)
    by_cap = [str(d.file.path) for d in capped.deletions if d.reason == "max_storage"]
    # 50 bytes left after the ages, 30 allowed: the quiet segment first, then the oldest with motion
    assert by_cap == ["quiet-1d", "moving-4d"]
