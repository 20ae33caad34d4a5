"""What continuous footage covers: gaps, a day hour by hour, where to play a moment from. Pure."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from vcam import footage


@dataclass(frozen=True)
class Seg:
    start: float
    end: float
    path: str = ""


@dataclass(frozen=True)
class Ev:
    id: int
    start: float
    end: float | None


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def test_segments_that_meet_are_one_recording_and_what_lies_between_is_a_gap() -> None:
    segments = [Seg(100, 160), Seg(160.4, 220), Seg(300, 360), Seg(360, 420)]
    covered = footage.cover(segments, 50, 500)
    assert covered.recorded == [(100, 220), (300, 420)]
    assert covered.gaps == [(50, 100), (220, 300), (420, 500)]
    assert footage.cover(segments, 120, 330).recorded == [(120, 220), (300, 330)]  # cut to the range
    assert footage.cover(segments, 100.5, 419.5).gaps == [(220, 300)]  # under a second at the ends: none
    assert footage.cover([], 0, 60).gaps == [(0, 60)]


def test_a_day_has_23_or_25_hours_when_the_clocks_change(berlin: None) -> None:
    spring = footage.day_span("2026-03-29")
    autumn = footage.day_span("2026-10-25")
    plain = footage.day_span("2026-07-01")
    assert spring and autumn and plain
    assert [round((b - a) / 3600) for a, b in (spring, autumn, plain)] == [23, 25, 24]
    assert footage.day_span("2026-02-30") is None and footage.day_span("yesterday") is None
    start, end = autumn
    day = footage.day([], [], start, end, now=end + 1)
    assert len(day.hours) == 25 and day.hours[-1].end == end


def test_a_day_hour_by_hour_with_its_gaps_and_motion(berlin: None) -> None:
    span = footage.day_span("2026-07-01")
    assert span is not None
    start, end = span
    segments = [Seg(start + 3540 + 60 * i, start + 3600 + 60 * i) for i in range(5)]  # 00:59 to 01:04
    segments += [Seg(start + 7200, start + 7260)]  # 02:00 to 02:01
    events = [Ev(1, start + 3590, start + 3620), Ev(2, start - 100, start + 10), Ev(3, start + 7230, None)]
    now = start + 7250  # it is 02:00:50: event 3 goes on, the rest of the day is still to come
    day = footage.day(segments, events, start, end, now)
    assert day.recorded == [(start + 3540, start + 3840), (start + 7200, now)]
    assert day.gaps == [(start, start + 3540), (start + 3840, start + 7200)]  # nothing after now
    assert day.recorded_s == 300 + 50 and day.segments == 6
    first, second, third = day.hours[:3]
    assert first.recorded == [(start + 3540, start + 3600)] and second.recorded == [(start + 3600, start + 3840)]

    def spans(hour: footage.Hour) -> list[tuple[int, float, float]]:
        return [(m.event, m.start - start, m.end - start) for m in hour.motion]

    assert spans(first) == [(2, 0, 10), (1, 3590, 3600)] and spans(second) == [(1, 3600, 3620)]
    assert [(m.event, m.end) for m in third.motion] == [(3, now)]
    assert all(not h.recorded and not h.motion for h in day.hours[3:])


def test_a_moment_plays_from_the_segment_showing_it_or_the_next_after_a_gap() -> None:
    segments = [Seg(100, 160, "a"), Seg(160, 220, "b"), Seg(300, 360, "c")]
    assert footage.playing_from(segments, 130) == (segments[0], 30)
    assert footage.playing_from(segments, 160) == (segments[1], 0)
    assert footage.playing_from(segments, 250) == (segments[2], 0)  # in the gap: where recording went on
    assert footage.playing_from(segments, 50) == (segments[0], 0)
    assert footage.playing_from(segments, 360) is None
