"""Clip scheduling and the pre-roll, as pure logic on packet times."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import pytest

from vcam.clips import Action, ClipPlanner, PreRoll, opening


@dataclass(frozen=True)
class P:
    time: float
    keyframe: bool


def packets(seconds: float, fps: int = 10, gop: int = 20) -> list[P]:
    return [P(i / fps, i % gop == 0) for i in range(int(seconds * fps))]


def simulate(planner: ClipPlanner, stream: list[P], motion: dict[float, float]) -> list[tuple[float, float]]:
    """Feed packets; at the times in ``motion`` an event (re)ports motion until the given time.
    Returns the clips as (first packet time, time of the packet that ended it)."""
    clips: list[tuple[float, float]] = []
    current: float | None = None
    ring: PreRoll[P] = PreRoll(planner.pre_seconds)
    for packet in stream:
        for at, until in motion.items():
            if at <= packet.time < at + 0.1:
                planner.motion(at, until)
        action = planner.decide(packet.time, packet.keyframe)
        if action is Action.START:
            opened = opening(ring, planner, packet, copy=planner.cut_on_keyframe)  # the recorder's own choice
            if opened is not None:
                _, current = opened
                planner.started(current)
        elif action is Action.CUT:
            assert current is not None
            clips.append((current, packet.time))
            planner.cut(packet.time)
            current = packet.time
        elif action is Action.FINISH:
            assert current is not None
            clips.append((current, packet.time))
            planner.finished(packet.time)
            current = None
        ring.add(packet)  # as the recorder does: after deciding
    return clips


def test_a_short_event_gives_one_clip_of_full_length_with_pre_roll() -> None:
    planner = ClipPlanner(clip_seconds=30, pre_seconds=3, cut_on_keyframe=False)
    (clip,) = simulate(planner, packets(60), {10.0: 12.0})
    assert clip == pytest.approx((7.0, 37.0))


def test_continuous_motion_gives_back_to_back_clips() -> None:
    planner = ClipPlanner(clip_seconds=30, pre_seconds=3, cut_on_keyframe=False)
    motion = {t: t + 2.0 for t in (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0)}
    clips = simulate(planner, packets(120), motion)
    assert clips == pytest.approx([(7.0, 37.0), (37.0, 67.0), (67.0, 97.0)])
    for (_, end), (start, _) in itertools.pairwise(clips):
        assert start == end  # the next clip begins with the very packet the last one stopped before


def test_stream_copy_cuts_on_the_first_keyframe_past_the_length() -> None:
    planner = ClipPlanner(clip_seconds=30, pre_seconds=3, cut_on_keyframe=True)
    motion = {t: t + 2.0 for t in (10.0, 20.0, 30.0, 40.0, 50.0)}
    clips = simulate(planner, packets(100, gop=25), motion)  # a keyframe every 2.5 s
    assert clips[0][0] == pytest.approx(5.0)  # the keyframe at or before 10 - 3
    for start, end in clips:
        assert 30 <= end - start <= 30 + 2.5
    assert clips[1][0] == clips[0][1]


def test_a_new_event_never_repeats_the_end_of_the_last_clip() -> None:
    planner = ClipPlanner(clip_seconds=10, pre_seconds=3, cut_on_keyframe=False)
    clips = simulate(planner, packets(60), {5.0: 6.0, 16.0: 17.0})
    assert clips == pytest.approx([(2.0, 12.0), (13.0, 23.0)])  # the second starts at 16 - 3
    clips = simulate(ClipPlanner(10, 3, False), packets(60), {5.0: 6.0, 13.0: 14.0})
    assert clips[1][0] == pytest.approx(12.0)  # pre-roll would reach 10, but the last clip ended at 12


def test_motion_after_the_last_clip_in_a_late_recorder_is_still_recorded() -> None:
    planner = ClipPlanner(clip_seconds=10, pre_seconds=2, cut_on_keyframe=False)
    planner.motion(5.0, 5.5)  # reported before the recorder reached that time
    assert planner.decide(1.0, True) is Action.IDLE
    assert planner.decide(3.0, False) is Action.START


def test_reset_forgets_the_old_connection() -> None:
    planner = ClipPlanner(clip_seconds=10, pre_seconds=2, cut_on_keyframe=False)
    planner.motion(5.0, 6.0)
    planner.reset()
    assert planner.decide(5.0, True) is Action.IDLE
    assert not planner.recording


def test_preroll_keeps_a_keyframe_at_least_the_pre_roll_old() -> None:
    ring: PreRoll[P] = PreRoll(seconds=3)
    for packet in packets(20, gop=20):  # keyframes at 0, 2, 4, …
        ring.add(packet)
    times = [p.time for p in ring.items]
    assert ring.items[0].keyframe
    assert times[0] <= 19.9 - 3 < times[0] + 2
    started = ring.since(16.5, not_before=-1)
    assert started[0].time == pytest.approx(16.0) and started[0].keyframe
    assert ring.since(16.5, not_before=17.0)[0].time == pytest.approx(18.0)  # first keyframe after
    assert ring.since(16.5, not_before=19.0) == []


def test_preroll_is_bounded_when_keyframes_are_rare() -> None:
    ring: PreRoll[P] = PreRoll(seconds=3, limit=100)
    for packet in packets(60, gop=10_000):
        ring.add(packet)
    assert len(ring.items) == 100


def test_stream_copy_waits_for_a_keyframe_when_the_pre_roll_has_none() -> None:
    planner = ClipPlanner(clip_seconds=10, pre_seconds=3, cut_on_keyframe=True)
    ring: PreRoll[P] = PreRoll(3)
    planner.motion(0.5, 1.0)
    assert opening(ring, planner, P(0.5, False), copy=True) is None  # nothing to start a copy from
    items, start = opening(ring, planner, P(2.0, True), copy=True) or ([], -1.0)
    assert [p.time for p in items] == [2.0] and start == 2.0


def test_preroll_keeps_what_a_full_scan_would() -> None:
    """The ring drops whole groups as a scan for the second keyframe would, with sound packets
    (never keyframes) among the pictures and a limit that cuts a group."""
    rng = random.Random(7)
    for limit in (5000, 25):
        ring: PreRoll[P] = PreRoll(seconds=3, limit=limit)
        kept: list[P] = []
        t = 0.0
        for _ in range(2000):
            t += rng.choice((0.0, 0.05, 0.1))
            packet = P(t, rng.random() < 0.08)
            ring.add(packet)
            kept.append(packet)
            while True:
                second = next((i for i, x in enumerate(kept) if i > 0 and x.keyframe), None)
                if second is None or kept[second].time > t - 3:
                    break
                kept = kept[second:]
            kept = kept[-limit:]
            assert list(ring.items) == kept
