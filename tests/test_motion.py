"""The detector and event logic on synthetic scenes with known answers, and the pure helpers."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import FPS, crossing, frames, step

from vcam.config import ALGORITHMS, MotionSettings, rectangle
from vcam.motion import Box, Detection, EventTracker, MotionDetector, merge_boxes
from vcam.scan import detect_events
from vcam.schedule import Every

DEFAULTS = MotionSettings()
# every background model must pass the scene tests, not only the default one
each_algorithm = pytest.mark.parametrize("algorithm", ALGORITHMS)


def events(algorithm: str = DEFAULTS.algorithm, **scene: object) -> list[tuple[float, float]]:
    settings = MotionSettings(algorithm=algorithm)
    result = detect_events(frames(**scene), settings)  # type: ignore[arg-type]
    return [(round(e.start, 1), round(e.end or 0, 1)) for e in result.events]


@each_algorithm
def test_static_noisy_scene_has_no_event(algorithm: str) -> None:
    assert events(algorithm, seconds=20, noise=6.0) == []


@each_algorithm
def test_small_object_crossing_is_one_event_at_the_right_time(algorithm: str) -> None:
    found = events(algorithm, seconds=12, object_at=crossing(start=3, duration=4))
    assert len(found) == 1
    start, end = found[0]
    assert 3.0 <= start <= 4.0  # entering takes 0.4 s; 5 analysed frames a second, 2 in a row
    assert 7.0 <= end <= 7.0 + DEFAULTS.post_seconds + 0.3


@each_algorithm
@pytest.mark.parametrize(
    "lighting",
    [
        {"gain": step(5, 1.0, 1.5)},  # exposure jumps up
        {"gain": step(5, 1.0, 0.6)},  # and down
        {"offset": step(5, 0.0, 35.0)},  # lights on: added brightness
    ],
    ids=["gain-up", "gain-down", "offset"],
)
def test_sudden_global_brightness_step_is_not_motion(algorithm: str, lighting: dict[str, object]) -> None:
    assert events(algorithm, seconds=12, **lighting) == []


@each_algorithm
def test_slow_illumination_ramp_is_not_motion(algorithm: str) -> None:
    assert events(algorithm, seconds=30, gain=lambda t: 0.6 + 0.7 * t / 30) == []


@each_algorithm
def test_object_moving_through_a_brightness_change_is_one_event(algorithm: str) -> None:
    found = events(algorithm, seconds=14, object_at=crossing(start=3, duration=6), gain=step(5, 1.0, 1.4))
    assert len(found) == 1
    assert 3.0 <= found[0][0] <= 4.0


@each_algorithm
def test_an_object_that_stops_becomes_background(algorithm: str) -> None:
    """A car that parks is news once, not a recording that lasts until it leaves."""
    parks = lambda t: (min(150, int((t - 3) * 60)), 100) if t >= 3 else None  # noqa: E731
    found = events(algorithm, seconds=60, object_at=parks)
    assert len(found) == 1
    start, end = found[0]
    assert 3.0 <= start <= 4.0
    absorbed = end - 2 - 5.5  # it stopped at 5.5 s; the event ends MOTION_POST_SECONDS (2) after its last motion
    print(f"{algorithm}: parked object event {start}-{end} s, absorbed {absorbed:.1f} s after it stopped")
    # README: about 7 s with the running Gaussian, about 1 s with MOG2; 1.5 s margin for frame timing
    assert absorbed <= {"gauss": 7, "mog2": 1}[algorithm] + 1.5


def test_regions_and_masks_limit_what_is_watched() -> None:
    top = crossing(start=2, duration=4, y=20)
    assert len(detect_events(frames(seconds=10, object_at=top), DEFAULTS).events) == 1
    bottom_only = MotionSettings(regions=(rectangle(0, 140, 320, 100),))
    assert detect_events(frames(seconds=10, object_at=top), bottom_only).events == []
    top_masked = MotionSettings(mask=(rectangle(0, 0, 320, 60),))
    assert detect_events(frames(seconds=10, object_at=top), top_masked).events == []


def test_boxes_are_in_full_frame_pixels_around_the_object() -> None:
    detector = MotionDetector(MotionSettings(detect_width=160), 320, 240)
    seen: list[Detection] = []
    for frame in frames(seconds=6, object_at=lambda t: (100 + int(t * 20), 150) if t >= 2 else None):
        seen.append(detector.detect(frame.gray()))
    boxes = seen[-1].boxes
    assert boxes
    union = merge_boxes(list(boxes), gap=1000)[0]
    x = 100 + int(5.9 * 20)  # where the square is now: x..x+24, y 150..174
    margin = 16  # the blur and normalisation spread an outline by a few pixels at detection size
    assert union.x <= x + 2 and union.x + union.w >= x + 22  # the square is inside the box …
    assert union.y <= 152 and union.y + union.h >= 172
    assert union.x >= x - 40 - margin and union.x + union.w <= x + 24 + margin  # … and the box hugs it
    assert union.y >= 150 - margin and union.y + union.h <= 174 + margin


def test_warm_up_after_reset_never_fires() -> None:
    detector = MotionDetector(DEFAULTS, 320, 240)
    first = [detector.detect(f.gray()) for f in frames(seconds=0.3)]
    assert all(d.warming and d.area == 0 for d in first)
    detector.reset()
    assert detector.detect(np.zeros((240, 320), np.uint8)).warming


def test_gate_analyses_at_most_the_asked_rate() -> None:
    gate = Every(1 / 8)
    times = [i / 25 for i in range(250)]
    analysed = [t for t in times if gate.due(t)]
    assert 78 <= len(analysed) <= 84  # 10 s at 8 fps
    gaps = np.diff(analysed)
    assert gaps.max() <= 0.125 + 0.04 + 1e-9


def test_gate_after_a_gap_does_not_burst() -> None:
    gate = Every(1 / 5)
    assert gate.due(0.0)
    assert gate.due(10.0)
    assert not gate.due(10.1)
    assert gate.due(10.2)


def test_gate_says_from_when_it_is_due() -> None:
    gate = Every(1 / 5)
    assert gate.due_from is None
    assert gate.due(0.0)
    start = gate.due_from
    assert start is not None and abs(start - 0.2) < 1e-5
    assert not gate.due(start - 1e-4)
    assert gate.due(start)


def moving(area: float = 5.0) -> Detection:
    return Detection(area, (Box(1, 2, 3, 4),))


QUIET = Detection(0.0)


def test_tracker_needs_min_frames_in_a_row() -> None:
    tracker = EventTracker(min_frames=3, post_seconds=2)
    assert tracker.update(0.0, 0, 100.0, moving(), True) is None
    assert tracker.update(0.1, 1, 100.1, moving(), True) is None
    assert tracker.update(0.2, 2, 100.2, QUIET, False) is None  # the run is broken
    assert tracker.update(0.3, 3, 100.3, moving(2), True) is None
    assert tracker.update(0.4, 4, 100.4, moving(7), True) is None
    change = tracker.update(0.5, 5, 100.5, moving(3), True)
    assert change is not None and change.kind == "started"
    assert (change.event.start, change.event.start_frame, change.event.start_wall) == (0.3, 3, 100.3)
    assert change.event.peak_area == 7


def test_tracker_ends_after_post_seconds_and_bridges_short_gaps() -> None:
    tracker = EventTracker(min_frames=1, post_seconds=2)
    assert tracker.update(0.0, 0, 0.0, moving(), True) is not None
    assert tracker.update(1.5, 15, 1.5, QUIET, False) is None
    assert tracker.update(1.9, 19, 1.9, moving(9), True) is None  # motion again within 2 s: same event
    assert tracker.update(3.8, 38, 3.8, QUIET, False) is None
    change = tracker.update(3.9, 39, 3.9, QUIET, False)
    assert change is not None and change.kind == "ended"
    assert (change.event.end, change.event.end_frame, change.event.peak_area) == (3.9, 39, 9)
    assert change.event.duration == pytest.approx(3.9)


def test_tracker_finish_closes_an_open_event_at_the_stream_end() -> None:
    tracker = EventTracker(min_frames=1, post_seconds=2)
    tracker.update(10.0, 250, 0.0, moving(), True)
    change = tracker.finish(10.5, 263)
    assert change is not None and (change.event.end, change.event.end_frame) == (10.5, 263)
    assert tracker.finish(11, 270) is None


def test_merge_boxes() -> None:
    boxes = [Box(0, 0, 10, 10), Box(12, 0, 10, 10), Box(100, 100, 5, 5)]
    assert merge_boxes(boxes, gap=3) == [Box(0, 0, 22, 10), Box(100, 100, 5, 5)]
    assert merge_boxes(boxes, gap=1) == [Box(0, 0, 10, 10), Box(12, 0, 10, 10), Box(100, 100, 5, 5)]


def test_merge_boxes_follows_a_box_that_grew() -> None:
    # the third box joins the first, which then reaches the second, kept apart a moment before
    chain = [Box(0, 0, 10, 10), Box(30, 0, 10, 10), Box(12, 0, 16, 10)]
    assert merge_boxes(chain, gap=3) == [Box(0, 0, 40, 10)]
    assert merge_boxes([Box(0, 0, 5, 5), Box(0, 0, 5, 5)], gap=0) == [Box(0, 0, 5, 5)]
    assert merge_boxes([], gap=3) == []


def test_frames_per_second_of_synthetic_scenes() -> None:
    assert FPS == 10  # the expectations above are in seconds at this rate
