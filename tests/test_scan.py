"""`vcam scan` against ground truth on real footage (../shared/media), and as a command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MEDIA, REPO

from vcam.motion import MotionSettings, rectangle
from vcam.scan import ScanError, scan

TRAFFIC = MEDIA / "traffic_camera.mp4"
BRIGHTNESS = MEDIA / "issue53_brightness_change.avi"
TRAFFIC_REGION = (631, 532, 210, 127)
TRAFFIC_TRUTH = [(9, 149), (358, 491), (542, 576)]  # frames, from ../shared/media/README.md


def media(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not here (../shared/media is optional)")
    return path


def test_traffic_clip_gives_the_three_ground_truth_events() -> None:
    result = scan(media(TRAFFIC), MotionSettings(regions=(rectangle(*TRAFFIC_REGION),)))
    found = [(e.start_frame, e.end_frame) for e in result.events]
    print(f"traffic events (frames): {found}, truth {TRAFFIC_TRUTH}")
    assert len(found) == 3
    for (start, end), (true_start, true_end) in zip(found, TRAFFIC_TRUTH, strict=True):
        assert end is not None
        assert abs(start - true_start) <= 10
        assert abs(end - true_end) <= 10
    assert result.frames == 576


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


def test_scan_command_human_output_and_errors(tmp_path: Path) -> None:
    result = run_scan(str(media(BRIGHTNESS)))
    assert result.returncode == 0
    assert result.stdout.strip() == "0 events in 59 frames (4.92 s)"
    bad = run_scan(str(tmp_path / "missing.mp4"))
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "missing.mp4" in bad.stderr
    wrong = run_scan(str(media(BRIGHTNESS)), "--min-area", "lots", "--region", "1,2,3")
    assert wrong.returncode == 2
    assert wrong.stderr.splitlines() == [
        "vcam scan: MOTION_MIN_AREA='lots': expected a number above 0 and at most 100",
        "vcam scan: MOTION_REGIONS='1,2,3': expected rectangles 'x,y,w,h' or polygons 'x1,y1,x2,y2,x3,y3,…' "
        "in pixels, separated by ';'",
    ]
