"""A browser as a camera: headless Chromium with a fake camera fed from real footage
(shared/media/traffic_camera.mp4 as a .y4m) opens a one-time pairing link, streams its
MediaRecorder chunks to the real daemon, which detects the cars and saves a clip that decodes
cleanly; closing the page makes the camera lost, reopening resumes; a second device is refused."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import CHROMIUM, MEDIA, Daemon, _require, decodes_cleanly, ffprobe, free_port, log_in_browser, wait_until
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from web_client import Client

pytestmark = pytest.mark.slow

FOOTAGE = MEDIA / "traffic_camera.mp4"
CAMERA = "phone"
CLIP_S = 4


@pytest.fixture(scope="module")
def fake_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The footage as Chromium's fake camera wants it: 640x360 yuv420p .y4m (it loops it)."""
    _require(FOOTAGE.is_file(), f"{FOOTAGE} is absent")
    path = tmp_path_factory.mktemp("fake") / "traffic.y4m"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", "-i", str(FOOTAGE)),
            *("-vf", "scale=640:360,fps=15", "-pix_fmt", "yuv420p", str(path)),
        ],
        check=True,
        timeout=120,
    )
    return path


@pytest.fixture(scope="module")
def driver() -> Iterator[Playwright]:
    _require(Path(CHROMIUM).exists(), "chromium is not installed")
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def browser(driver: Playwright, fake_camera: Path) -> Iterator[Browser]:
    launched = driver.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={fake_camera}",
        ],
    )
    yield launched
    launched.close()


def pairing_link(admin: Client, browser: Browser) -> str:
    """A new link, as its page shows it; the QR code on that page says the same link."""
    made = admin.form(f"/cameras/{CAMERA}/pair", {"csrf": admin.csrf})
    assert made.status == 200, made
    found = re.search(rb"(https?://[^<]+/pair/[\w-]+)", made.body)
    svg = re.search(rb'<svg[^>]*class="segno".*?</svg>', made.body, re.S)
    assert found is not None and svg is not None
    page = browser.new_page()
    page.set_content(f"<body style='margin:20px;background:#fff'>{svg[0].decode()}</body>")
    shot = page.locator("svg").screenshot()
    page.close()
    picture = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert picture is not None
    picture = cv2.copyMakeBorder(picture, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
    said, _, _ = cv2.QRCodeDetector().detectAndDecode(picture)
    assert said == found[1].decode()
    return said


def stream_from(page: Page, url: str) -> None:
    page.goto(url)
    page.click("#start")
    page.wait_for_selector("body.streaming", timeout=15000)


def second_device_is_refused(browser: Browser, port: int, password: str, vcam: Daemon) -> None:
    """An admin's browser trying to be the same camera while the paired device streams."""
    second = browser.new_context()
    other = second.new_page()
    log_in_browser(other, f"http://127.0.0.1:{port}", password)
    other.goto(f"http://127.0.0.1:{port}/cameras/add-this-device?camera={CAMERA}")
    other.click("#start")
    assert wait_until(lambda: "another device" in other.inner_text("#status"), 10)
    vcam.wait_for("device_refused", 5)
    second.close()


def test_a_browser_streams_as_a_camera(daemon: Any, browser: Browser, tmp_path: Path) -> None:
    port = free_port()
    vcam: Daemon = daemon(
        RTSP_URL="browser",
        CAMERA_NAME=CAMERA,
        WEB_ADDR=f"127.0.0.1:{port}",
        CLIP_SECONDS=str(CLIP_S),
        PRE_SECONDS="1",
        STALL_TIMEOUT="5",
        RECONNECT_DELAY="1",
        SNAPSHOT_INTERVAL="0",
    )
    _, first = vcam.wait_for("web_first_user", 20)
    vcam.wait_for("web_serving", 20)
    _, waiting = vcam.wait_for("camera_unavailable", 20)
    assert waiting["reason"] == "waiting" and "device" in waiting["error"]
    admin = Client(port)
    assert admin.login("admin", first["password"]).status == 303
    link = pairing_link(admin, browser)
    assert link.startswith(f"http://127.0.0.1:{port}/pair/")

    device = browser.new_context()
    page = device.new_page()
    started = time.monotonic()
    stream_from(page, link)
    assert page.url.endswith(f"/cameras/add-this-device?camera={CAMERA}")
    _, connected = vcam.wait_for("camera_connected", 20)
    assert (connected["codec"], connected["width"], connected["height"]) == ("h264", 640, 360)
    print(
        f"\nstreaming: {connected['codec']} {connected['width']}x{connected['height']} from the browser, "
        f"connected {time.monotonic() - started:.1f} s after the link was opened"
    )
    vcam.wait_for("motion_started", 40)
    _, saved = vcam.wait_for("clip_saved", 40)
    clip = Path(saved["path"])
    facts = ffprobe(clip)
    assert facts["codec_name"] == "h264" and decodes_cleanly(clip)
    assert abs(float(facts["duration"]) - CLIP_S) < 0.6, facts
    print(f"clip {clip.name}: {facts['duration']} s, {facts['nb_read_frames']} frames, decodes cleanly")

    elsewhere = device.new_page()  # the device's cookie opens its camera's page and stream, nothing else
    elsewhere.goto(f"http://127.0.0.1:{port}/events")
    assert "/login" in elsewhere.url
    elsewhere.close()
    again = Client(port).request("GET", "/" + link.split("/", 3)[3])
    assert again.status == 403  # the link works once
    stranger = browser.new_context()
    assert "/login" in (stranger.new_page().goto(f"http://127.0.0.1:{port}/cameras/add-this-device") or page).url
    stranger.close()

    second_device_is_refused(browser, port, first["password"], vcam)

    since = time.monotonic()
    page.close()  # the phone's screen locked, or its Wi-Fi went
    _, lost = vcam.wait_for("camera_lost", 15, since=since)
    assert "device stopped streaming" in lost["error"]
    page = device.new_page()
    stream_from(page, f"http://127.0.0.1:{port}/cameras/add-this-device")  # its cookie still pairs it
    vcam.wait_for("camera_connected", 20, count=2)
    print(f"closed: camera lost ({lost['error']}); reopened: streaming again")
    device.close()
    code, took = vcam.terminate()
    assert code == 0 and took < 10


def test_the_device_page_says_what_to_do_over_plain_http(daemon: Any, driver: Playwright) -> None:
    """Not a secure context (plain HTTP to a host other than localhost): no camera, and the page says why."""
    port = free_port()
    vcam = daemon(RTSP_URL="browser", CAMERA_NAME=CAMERA, WEB_ADDR=f"127.0.0.1:{port}")
    _, first = vcam.wait_for("web_first_user", 20)
    vcam.wait_for("web_serving", 20)
    address = "vcam.test"  # a name, not localhost: what a phone on the LAN would open
    browser = driver.chromium.launch(
        executable_path=CHROMIUM, args=["--no-sandbox", f"--host-resolver-rules=MAP {address} 127.0.0.1"]
    )
    try:
        page = browser.new_page()
        page.goto(f"http://{address}:{port}/login")
        page.fill("input[name=user]", "admin")
        page.fill("input[name=password]", first["password"])
        page.click("button[type=submit]")
        page.goto(f"http://{address}:{port}/cameras/add-this-device?camera={CAMERA}")
        assert page.is_visible("#secure") and "https://" in page.inner_text("#secure")
    finally:
        browser.close()
