"""Continuous recording by the real daemon from a real RTSP camera (gst-rtsp-server): segments
across a camera outage, events marking them, the web UI's timeline and its player in Chromium,
and `vcam export` of a range spanning the outage."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Daemon, RtspServer, decodes_cleanly, ffprobe, log_in_browser, wait_until
from playwright.sync_api import Browser
from web_client import Client

from vcam import layout
from vcam.eventlog import EventLog

pytestmark = pytest.mark.slow


def stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))  # in UTC: the export runs with TZ=UTC


def test_segments_across_an_outage_on_the_timeline_and_in_an_export_that_reports_the_gap(
    make_clip: Callable[..., Path],
    rtsp_server: Callable[..., RtspServer],
    daemon: Callable[..., Daemon],
    browser: Browser,
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
    base, password, segments = timeline_shows_the_outage(proc)
    timeline_plays_from_any_second_and_on(base, password, segments, browser)
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


def timeline_shows_the_outage(proc: Daemon) -> tuple[str, str, list[dict[str, Any]]]:
    """The API's segments and gaps, and the day's page: recorded stretches, motion, the gap."""
    _, serving = proc.wait_for("web_serving", 5)
    _, first = proc.wait_for("web_first_user", 5)
    base = serving["url"].rstrip("/")
    client = Client(int(base.rsplit(":", 1)[1]))
    assert client.login("admin", first["password"]).status == 303
    listed = client.request("GET", f"/api/cameras/camera/segments?since={time.time() - 600:.0f}").json()
    segments = listed["segments"]
    assert len(segments) >= 4 and all(s["path"].startswith("camera/continuous/") for s in segments)
    inner = [g for g in listed["gaps"] if g[0] > segments[0]["start"] and g[1] < segments[-1]["end"]]
    print(f"API: {len(segments)} segments, gaps inside them {[round(b - a, 1) for a, b in inner]}")
    assert len(inner) == 1 and 3 <= inner[0][1] - inner[0][0] <= 12  # the 4 s outage and the reconnection
    day = layout.day(segments[0]["start"])
    page_html = client.request("GET", f"/cameras/camera/timeline?day={day}").body.decode()
    assert page_html.count('class="rec"') >= 2 and 'class="motion"' in page_html
    assert "Nothing recorded" in page_html
    for bad in ("day=soon", "at=nan", "at=1e300", "at=25:61"):  # a clear 400, never a traceback
        assert client.request("GET", f"/cameras/camera/timeline?{bad}").status == 400, bad
    assert client.request("GET", "/api/cameras/camera/segments?since=0&until=1e12").status == 400
    return base, first["password"], segments


def timeline_plays_from_any_second_and_on(
    base: str, password: str, segments: list[dict[str, Any]], browser: Browser
) -> None:
    """Started at a second inside a segment the player plays from there; at a segment's end it goes
    on into the next one; a click on an hour's bar asks for the second under the pointer."""
    day = layout.day(segments[0]["start"])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        log_in_browser(page, base, password)
        page.goto(base + "/cameras/camera")
        page.click("text=Timeline")
        assert page.locator("svg.hour").count() in (23, 24, 25)
        second = segments[1]
        at = second["start"] + 1.5
        page.goto(f"{base}/cameras/camera/timeline?day={day}&at={at:.1f}")
        video = page.locator("#footage")
        video.wait_for()
        played = (
            "(() => { const v = document.getElementById('footage'); return v.played.length ? v.currentTime : 0; })()"
        )
        started = wait_until(lambda: page.evaluate(played), 15)  # the first time seen while it plays
        assert page.evaluate("document.getElementById('footage').error") is None
        print(f"timeline: played {Path(second['path']).name} from {started:.2f} s (asked for 1.5 s)")
        assert 1.4 <= started < 2.5
        assert wait_until(lambda: page.evaluate(played) > started + 0.5, 10)  # and it plays on
        last_second = second["end"] - 0.5
        page.goto(f"{base}/cameras/camera/timeline?day={day}&at={last_second:.1f}")
        page.locator("#footage").wait_for()
        third = Path(segments[2]["path"]).name
        assert wait_until(lambda: page.text_content("#file") == third, 15), page.text_content("#file")
        assert wait_until(lambda: page.evaluate("document.getElementById('footage').currentTime") > 0.5, 15)
        print(f"timeline: went on from {Path(second['path']).name} into {third}")
        # a click on the bar plays from the second under the pointer
        bar = page.locator("svg.hour").nth(time.localtime(second["start"]).tm_hour)
        box = bar.bounding_box()
        assert box is not None
        hour_start = float(bar.get_attribute("data-start") or 0)
        x = box["width"] * (second["start"] + 2 - hour_start) / 3600
        page.mouse.click(box["x"] + x, box["y"] + box["height"] / 2)
        page.wait_for_url("**at=**")
        clicked = float(page.url.split("at=")[1])
        print(f"timeline: the click asked for {clicked - second['start']:+.1f} s into {Path(second['path']).name}")
        assert abs(clicked - (second["start"] + 2)) < 3600 / box["width"] * 2  # two pixels
    finally:
        context.close()
