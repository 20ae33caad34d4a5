"""`vcam scan` against ground truth on real footage (../shared/media), and as a command."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import MEDIA, REPO, _require

from vcam.config import MotionSettings, rectangle
from vcam.scan import ScanError, scan

TRAFFIC = MEDIA / "traffic_camera.mp4"
BRIGHTNESS = MEDIA / "issue53_brightness_change.avi"
TRAFFIC_REGION = (631, 532, 210, 127)
TRAFFIC_TRUTH = [(9, 149), (358, 491), (542, 576)]  # frames, from ../shared/media/README.md


def media(path: Path) -> Path:
    """../shared/media is beside the checkout in CI, where its absence fails; a plain local run skips."""
    _require(path.exists(), f"{path} is not here (../shared/media)")
    return path


README_TOLERANCE = 7  # frames: "the ground truth still holds to within 7 frames" (README)


@pytest.mark.parametrize("algorithm", ["gauss", "mog2"])
def test_traffic_clip_gives_the_three_ground_truth_events(algorithm: str) -> None:
    result = scan(media(TRAFFIC), MotionSettings(algorithm=algorithm, regions=(rectangle(*TRAFFIC_REGION),)))
    found = [(e.start_frame, e.end_frame) for e in result.events]
    print(f"{algorithm}: traffic events (frames): {found}, truth {TRAFFIC_TRUTH}")
    assert result.frames == 576 and len(found) == 3
    for (start, end), (true_start, true_end) in zip(found[:2], TRAFFIC_TRUTH[:2], strict=True):
        assert end is not None
        assert abs(start - true_start) <= README_TOLERANCE and abs(end - true_end) <= README_TOLERANCE
    # the third car is still in the region when the file ends: its event is cut there, so its end
    # is the file's end by construction and says nothing about detection; only its start counts
    assert abs(found[2][0] - TRAFFIC_TRUTH[2][0]) <= README_TOLERANCE and found[2][1] == result.frames


def test_both_background_models_find_the_same_traffic_events_frame_for_frame() -> None:
    """The README says so: the cheap running Gaussian gives up nothing against MOG2 here."""
    region = (rectangle(*TRAFFIC_REGION),)
    gauss, mog2 = (scan(media(TRAFFIC), MotionSettings(algorithm=a, regions=region)).events for a in ("gauss", "mog2"))
    assert [(e.start_frame, e.end_frame) for e in gauss] == [(e.start_frame, e.end_frame) for e in mog2]


def test_brightness_change_clip_gives_no_event() -> None:
    result = scan(media(BRIGHTNESS), MotionSettings())
    assert result.events == []
    assert result.frames == 59


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(ScanError, match="cannot read it as a video"):
        scan(junk, MotionSettings())
    with pytest.raises(ScanError, match="No such file"):
        scan(tmp_path / "missing.mp4", MotionSettings())


def run_scan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vcam", "scan", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_scan_command_json_lines() -> None:
    region = ",".join(map(str, TRAFFIC_REGION))
    result = run_scan(str(media(TRAFFIC)), "--region", region, "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [sorted(r) for r in rows] == [["end", "end_frame", "peak_area", "start", "start_frame"]] * 3
    assert rows[0]["start"] == pytest.approx(rows[0]["start_frame"] / 25)
    assert rows[2]["end"] == pytest.approx(23.04)


def test_scan_command_human_output() -> None:
    """Its keyframes come every second: while nothing moves only they are decoded, as live."""
    result = run_scan(str(media(BRIGHTNESS)))
    assert result.returncode == 0
    assert (
        result.stdout.strip() == "0 events in 59 frames (4.92 s), 49 decoded (the rest skipped: IDLE_DECODE=keyframes)"
    )
    every = run_scan(str(media(BRIGHTNESS)), "--idle-decode", "all")
    assert every.stdout.strip() == "0 events in 59 frames (4.92 s)"


def test_scan_command_errors(tmp_path: Path, make_clip: Callable[..., Path]) -> None:
    bad = run_scan(str(tmp_path / "missing.mp4"))
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "missing.mp4" in bad.stderr
    wrong = run_scan(str(make_clip(seconds=2)), "--min-area", "lots", "--region", "1,2,3")
    assert wrong.returncode == 2
    assert wrong.stderr.splitlines() == [
        "vcam scan: MOTION_MIN_AREA='lots': expected a number above 0 and at most 100",
        "vcam scan: MOTION_REGIONS='1,2,3': expected rectangles 'x,y,w,h' or polygons 'x1,y1,x2,y2,x3,y3,…' "
        "in pixels, separated by ';'",
    ]


def test_a_file_damaged_in_the_middle_is_scanned_past_the_damage(
    tmp_path: Path, make_clip: Callable[..., Path]
) -> None:
    """Before: the scan stopped at the damage (60 of 200 frames, the event after it lost)."""
    data = bytearray(make_clip(seconds=20, onset=12).read_bytes())
    noise = random.Random(1)
    for i in range(int(len(data) * 0.3), int(len(data) * 0.4)):
        data[i] = noise.randrange(256)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    result = scan(damaged, MotionSettings(idle_decode="all"))  # every packet decoded: all the damage seen
    assert result.damaged > 0 and result.frames + result.damaged >= 195
    (event,) = result.events
    assert 115 <= event.start_frame <= 125 and event.end_frame == 200  # numbered as in the file
    shown = run_scan(str(damaged), "--idle-decode", "all")
    assert shown.returncode == 0 and f"skipped {result.damaged} damaged packets" in shown.stdout
    # keyframes only while idle: damage between keyframes goes unseen, the event is found all the same
    (event,) = scan(damaged, MotionSettings()).events
    assert 115 <= event.start_frame <= 125 and event.end_frame == 200


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_a_still_image_is_not_a_video(tmp_path: Path, suffix: str) -> None:
    picture = tmp_path / f"photo{suffix}"
    cv2.imwrite(str(picture), np.full((120, 160, 3), 128, np.uint8))
    result = run_scan(str(picture))
    assert result.returncode == 2
    assert result.stderr.strip() == f"vcam scan: {picture}: is a still image, not a video"


def test_a_region_outside_the_picture_is_a_warning(make_clip: Callable[..., Path]) -> None:
    result = run_scan(str(make_clip(seconds=2)), "--region", "400,10,50,50", "--mask", "300,200,40,60")
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "vcam scan: warning: MOTION_REGIONS shape 400,10,450,10,450,60,400,60 is wholly outside the 320x240 picture",
        "vcam scan: warning: MOTION_MASK shape 300,200,340,200,340,260,300,260 is partly outside the 320x240 picture",
    ]


def test_a_variable_frame_rate_file_gives_times_from_its_own_timestamps(tmp_path: Path) -> None:
    """The traffic clip with every other frame dropped from frame 288 on (its timestamps kept):
    12.5 fps in the second half. Times must come from the frames' timestamps (the truth in
    seconds is unchanged), frame numbers are the frames' places in this file."""
    vfr = tmp_path / "traffic_vfr.mp4"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", "-i", str(media(TRAFFIC)), "-an"),
            *("-vf", r"select='if(lt(n\,288)\,1\,not(mod(n\,2)))'", "-fps_mode", "vfr"),
            *("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(vfr)),
        ],
        check=True,
        timeout=120,
    )
    result = scan(vfr, MotionSettings(regions=(rectangle(*TRAFFIC_REGION),)))
    assert result.frames == 288 + 144

    def place(frame: int) -> int:  # the truth's frame number as a place in the thinned file
        return frame if frame < 288 else 288 + (frame - 288) // 2

    found = [(round(e.start, 2), round(e.end or 0, 2), e.start_frame, e.end_frame) for e in result.events]
    print(f"variable frame rate: {found}; truth {[(s / 25, e / 25) for s, e in TRAFFIC_TRUTH]} s")
    assert len(found) == 3
    seconds = (README_TOLERANCE + 2) / 25  # 7 frames, and one frame of the thinned half (2 of the original)
    for (start, end, start_frame, end_frame), (true_start, true_end) in zip(found[:2], TRAFFIC_TRUTH[:2], strict=True):
        assert abs(start - true_start / 25) <= seconds and abs(end - true_end / 25) <= seconds
        assert end_frame is not None
        assert (
            abs(start_frame - place(true_start)) <= README_TOLERANCE
            and abs(end_frame - place(true_end)) <= README_TOLERANCE
        )
    assert abs(found[2][0] - TRAFFIC_TRUTH[2][0] / 25) <= seconds  # the third ends with the file


def test_probe_names_the_audio_track_and_whether_clips_carry_it() -> None:
    for setting, said in [("on", "recorded"), ("off", "not recorded: RECORD_AUDIO=off")]:
        result = subprocess.run(
            [sys.executable, "-m", "vcam", "probe", str(media(TRAFFIC))],
            cwd=REPO,
            env={**os.environ, "RECORD_AUDIO": setting},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert f"audio=aac, 44100 Hz, 2 channels ({said})" in result.stdout.splitlines()
