"""The stream timeline: the camera's own timestamps, made continuous across jumps."""

from __future__ import annotations

import pytest

from vcam.source import Timeline


def times(raws: list[float], step: float = 0.1) -> list[float]:
    line = Timeline(by_arrival=False, step=step)
    return [round(line.stamp(raw, now=0.0), 3) for raw in raws]


def test_timestamps_are_seconds_since_the_first_picture() -> None:
    assert times([100.0, 100.1, 100.2]) == [0.0, 0.1, 0.2]


def test_a_gap_of_minutes_carries_on_one_frame_later() -> None:
    assert times([10.0, 10.1, 10.2, 310.2, 310.3]) == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_a_clock_that_wraps_or_resets_carries_on() -> None:
    wrap = 2**33 / 90000  # the 33-bit 90 kHz clock of RTP and MPEG-TS wraps after 26.5 hours
    assert times([wrap - 0.2, wrap - 0.1, 0.0, 0.1]) == [0.0, 0.1, 0.2, 0.3]
    assert times([50.0, 50.1, 3.0, 3.1]) == [0.0, 0.1, 0.2, 0.3]


def test_b_frames_around_a_jump_keep_their_own_segment() -> None:
    # decode order: P(10.3) B(10.1) B(10.2) | after a gap: I(400.0) B-frame of before (10.4)
    assert times([10.0, 10.3, 10.1, 10.2, 400.0, 10.4, 400.1]) == [0.0, 0.3, 0.1, 0.2, 0.4, 0.4, 0.5]


def test_missing_timestamps_count_as_the_latest() -> None:
    line = Timeline(by_arrival=False, step=0.1)
    assert [line.stamp(raw, 0.0) for raw in (5.0, 5.5, None)] == [0.0, 0.5, 0.5]


@pytest.mark.parametrize("jump", [300.0, -40.0])
def test_jumps_are_counted(jump: float) -> None:
    line = Timeline(by_arrival=False, step=0.1)
    for raw in (100.0, 100.1, 100.1 + jump, 100.2 + jump):
        line.stamp(raw, 0.0)
    assert line.jumps == 1


def test_an_untimed_first_packet_stood_one_frame_before_the_next() -> None:
    line = Timeline(by_arrival=False, step=0.1)
    assert [round(line.stamp(raw, 0.0), 3) for raw in (None, 7.1, 7.2)] == [0.0, 0.1, 0.2]


def test_sound_goes_on_the_pictures_timeline_and_never_moves_it() -> None:
    line = Timeline(by_arrival=False, step=0.1)
    assert line.place(99.9) is None  # sound before the first picture: nowhere to put it
    line.stamp(100.0, now=0.0)
    assert line.place(100.05) == pytest.approx(0.05)
    assert line.place(99.5) == pytest.approx(-0.5)  # a little behind the pictures: kept, the clip drops it
    assert line.place(500.0) is None  # a clock of its own: dropped
    line.stamp(100.1, now=0.0)
    assert line.jumps == 0 and line.last == pytest.approx(0.1)  # the sound moved nothing
    line.stamp(400.0, now=0.0)  # the pictures jump: the sound follows them
    assert line.place(400.05) == pytest.approx(0.25)


def test_by_arrival_streams_carry_no_sound() -> None:
    line = Timeline(by_arrival=True)
    line.stamp(None, now=5.0)
    assert line.place(0.0) is None
