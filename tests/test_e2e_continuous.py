"""Continuous recording by the real daemon from a real RTSP camera (gst-rtsp-server): segments
across a camera outage, events marking them, and `vcam export` of a range spanning the outage."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, Daemon, RtspServer, decodes_cleanly, ffprobe

from vcam.eventlog import EventLog

pytestmark = pytest.mark.slow


def stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))  # in UTC: the export runs with TZ=UTC


def test_segments_across_an_outage_and_an_export_that_reports_the_gap(
    make_clip: Callable[..., Path],
    rtsp_server: Callable[..., RtspServer],
    daemon: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    server = rtsp_server(clip=make_clip(seconds=60, onset=8))
    proc = daemon(
        RTSP_URL=server.url,
        RECORD="both",
        SEGMENT_SECONDS="4",
        RECORD_MODE="passthrough",
        RECONNECT_DELAY="1",
        RECONNECT_MAX_DELAY="1",
    )
    proc.wait_for("segment_saved", 30, count=2)
    server.kill()
    dropped = time.time()
    _, cut = proc.wait_for("segment_saved", 15, since=time.monotonic())  # the segment in progress is closed
    time.sleep(4)
    server.start()
    back = time.monotonic()
    proc.wait_for("camera_connected", 15, since=back)
    proc.wait_for("segment_saved", 30, since=back, count=2)
    assert proc.terminate()[0] == 0
    saved = [Path(e["path"]) for _, e in proc.events("segment_saved")]
    assert all(p.exists() and decodes_cleanly(p) for p in saved)
    assert all(p.parts[-4] == "continuous" and p.name.endswith("Z.mp4") for p in saved)
    print(f"{len(saved)} segments, the one cut by the outage {cut['duration_s']} s")

    log = EventLog(tmp_path / "video" / "events.sqlite3")
    try:
        rows = log.segments("camera")
        events = log.events("camera")
    finally:
        log.close()
    assert {r.path for r in rows} == {str(p) for p in saved}
    moving = [r for r in rows if r.motion]
    print(f"events {[(e.start, e.end) for e in events]}; segments with motion {len(moving)} of {len(rows)}")
    assert events and moving and len(moving) < len(rows)
    for row in moving:
        assert any(e.start <= row.end and (e.end or row.end) >= row.start for e in events)

    start, end = rows[0].start, rows[-1].end
    outage = [(a.end, b.start) for a, b in itertools.pairwise(rows) if b.start - a.end > 1.0]
    assert len(outage) == 1 and outage[0][0] <= dropped + 1
    target = tmp_path / "export.mp4"
    env = {"PATH": "/usr/bin:/bin", "VIDEO_DIR": str(tmp_path / "video"), "TZ": "UTC"}
    done = subprocess.run(
        [sys.executable, "-m", "vcam", "export", "camera", stamp(start), stamp(end + 1), "-o", str(target)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    print(done.stdout, done.stderr)
    assert done.returncode == 0
    assert done.stdout.count("gap: ") == 1 and "nothing recorded" in done.stdout
    frames = int(ffprobe(target)["nb_read_frames"])
    in_segments = sum(int(ffprobe(Path(r.path))["nb_read_frames"]) for r in rows)
    print(f"export: {frames} pictures; the segments hold {in_segments}")
    assert frames == in_segments  # every picture of the range, once; the outage is no picture at all
    assert decodes_cleanly(target)
