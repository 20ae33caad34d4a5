#!/usr/bin/env python3
"""What a browser camera costs vcam, against the same footage from an RTSP camera, and the
measurements behind the choice of transport (the browser's own H.264 encoder vs JPEG pictures).

    python bench/browser_cpu.py [--seconds 60]

The footage (../shared/media/traffic_camera.mp4, 640x360 at 15 fps, looped) comes (1) from
gst-rtsp-server as H.264, and (2) from headless Chromium's fake camera, which the device page
streams to vcam with MediaRecorder (H.264 in WebM) after a pairing link. The same daemon settings
(passthrough clips, motion all the time); vcam's CPU over the same window, and the floor
(`ffmpeg -threads 1` decoding the RTSP stream) alongside. Then the JPEG alternative, measured
in-process on the same pictures: the bytes a second of quality-70 JPEGs, and vcam's CPU to take
them (a JPEG decoded per picture, and clips encoded with x264 ultrafast, since JPEGs cannot be
copied into an MP4 that plays on a phone).
"""

from __future__ import annotations

import argparse
import http.client
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import av
import cv2
import numpy as np
from measure import FOOTAGE, Daemon, floor_cpu, free_port, make_stream, peak_rss_mb, process_cpu, serve
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
SETTINGS = {"RECORD_MODE": "passthrough", "SNAPSHOT_INTERVAL": "60", "CLIP_SECONDS": "10", "METRICS_ADDR": "off"}


def pairing_link(port: int, password: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    form = {"user": "admin", "password": password, "next": "/"}
    connection.request("POST", "/login", urlencode(form), {"Content-Type": "application/x-www-form-urlencoded"})
    answer = connection.getresponse()
    answer.read()
    cookie = answer.headers["Set-Cookie"].split(";")[0]
    connection.request("GET", "/", headers={"Cookie": cookie})
    page = connection.getresponse().read().decode()
    csrf = re.search(r'<meta name="csrf" content="([^"]+)"', page)
    assert csrf is not None
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    connection.request("POST", "/cameras/phone/pair", urlencode({"csrf": csrf[1]}), headers)
    made = connection.getresponse().read().decode()
    connection.close()
    link = re.search(r"(http://[^<]+/pair/[\w-]+)", made)
    assert link is not None
    return link[1]


def rtsp_window(url: str, seconds: float, video: Path) -> dict[str, float]:
    daemon = Daemon(video, {**SETTINGS, "RTSP_URL": url})
    daemon.wait_connected()
    time.sleep(3)
    before = process_cpu(daemon.pid)
    floor = floor_cpu(url, seconds)
    used = process_cpu(daemon.pid) - before
    rss = peak_rss_mb(daemon.pid)
    daemon.stop()
    return {"vcam_s": used, "floor_s": floor, "rss_mb": rss}


def browser_window(url: str, fake: Path, seconds: float, video: Path) -> dict[str, float]:
    port = free_port()
    daemon = Daemon(video, {**SETTINGS, "RTSP_URL": "browser", "CAMERA_NAME": "phone", "WEB_ADDR": f"127.0.0.1:{port}"})
    deadline = time.monotonic() + 30
    while not (daemon.said("web_first_user") and daemon.said("web_serving")) and time.monotonic() < deadline:
        time.sleep(0.1)
    link = pairing_link(port, daemon.said("web_first_user")[0]["password"])
    args = ["--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, args=[*args, f"--use-file-for-fake-video-capture={fake}"]
        )
        page = browser.new_page()
        page.goto(link)
        page.click("#start")
        daemon.wait_connected()
        time.sleep(3)
        before = process_cpu(daemon.pid)
        started = time.monotonic()
        floor = floor_cpu(url, seconds)
        used = process_cpu(daemon.pid) - before
        took = time.monotonic() - started
        rss = peak_rss_mb(daemon.pid)
        browser.close()
    said = daemon.stop()
    came = next(e for e in said if e.get("event") == "device_streaming")
    left = next(e for e in said if e.get("event") == "device_left")
    streamed_s = (datetime.fromisoformat(left["timestamp"]) - datetime.fromisoformat(came["timestamp"])).total_seconds()
    kbit_s = left["received_bytes"] * 8 / 1000 / streamed_s
    return {"vcam_s": used, "floor_s": floor, "rss_mb": rss, "kbit_s": kbit_s, "window_s": took}


def jpeg_path(clip: Path, count: int = 300) -> dict[str, float]:
    """The JPEG alternative on the same pictures: size, and vcam's CPU per picture to decode it and
    to encode the clip from it (x264 ultrafast, as annotated clips are)."""
    pictures = []
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            pictures.append(frame.to_ndarray(format="bgr24"))
            if len(pictures) >= count:
                break
    jpegs = [bytes(cv2.imencode(".jpg", p, [cv2.IMWRITE_JPEG_QUALITY, 70])[1]) for p in pictures]
    started = time.process_time()
    decoded: list[Any] = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) for j in jpegs]
    decode_ms = (time.process_time() - started) / len(jpegs) * 1000
    with tempfile.TemporaryDirectory() as folder:
        out = av.open(str(Path(folder) / "x.mp4"), "w")
        stream = out.add_stream("libx264", rate=15, options={"preset": "ultrafast", "threads": "1"})
        stream.width, stream.height, stream.pix_fmt = decoded[0].shape[1], decoded[0].shape[0], "yuv420p"
        started = time.process_time()
        for picture in decoded:
            yuv = cv2.cvtColor(picture, cv2.COLOR_BGR2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            for packet in stream.encode(frame):
                out.mux(packet)
        encode_ms = (time.process_time() - started) / len(decoded) * 1000
        for packet in stream.encode(None):
            out.mux(packet)
        out.close()
    kbit_s = sum(len(j) for j in jpegs) / len(jpegs) * 15 * 8 / 1000
    return {"decode_ms": decode_ms, "encode_ms": encode_ms, "kbit_s": kbit_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    if not FOOTAGE.is_file():
        raise SystemExit(f"{FOOTAGE} is absent: this bench compares the same real footage both ways")
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        clip = make_stream(base, still=False, seconds=int(2 * args.seconds + 120), width=640, height=360, gop=15)
        fake = base / "traffic.y4m"
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-i",
                str(FOOTAGE),
                "-vf",
                "scale=640:360,fps=15",
                "-pix_fmt",
                "yuv420p",
                str(fake),
            ],
            check=True,
        )
        server, url = serve(clip)
        try:
            rtsp = rtsp_window(url, args.seconds, base / "video_rtsp")
            print({"rtsp": rtsp}, file=sys.stderr)
            browser = browser_window(url, fake, args.seconds, base / "video_browser")
            print({"browser": browser}, file=sys.stderr)
        finally:
            server.terminate()
            server.wait()
        jpeg = jpeg_path(clip)
        rtsp_kbit = clip.stat().st_size * 8 / 1000 / (2 * args.seconds + 120)
    print(f"traffic_camera.mp4 at 640x360, 15 fps, clips passthrough, {args.seconds:g} s windows")
    print("| camera | vcam CPU | decode floor (same window) | vcam / floor | stream | peak RSS |")
    print("|---|---|---|---|---|---|")
    for label, r, kbit in (
        ("RTSP (gst-rtsp-server, H.264)", rtsp, rtsp_kbit),
        ("browser (Chromium, MediaRecorder H.264 in WebM)", browser, browser["kbit_s"]),
    ):
        print(
            f"| {label} | {r['vcam_s']:.2f} s | {r['floor_s']:.2f} s | {r['vcam_s'] / r['floor_s']:.2f}x | "
            f"{kbit:.0f} kbit/s | {r['rss_mb']:.0f} MB |"
        )
    relative = (browser["vcam_s"] / browser["floor_s"]) / (rtsp["vcam_s"] / rtsp["floor_s"])
    print(f"browser camera / RTSP camera: {relative:.2f}x")
    per_s = (jpeg["decode_ms"] + jpeg["encode_ms"]) * 15 / 1000
    print(
        f"JPEG pictures instead (quality 70, same footage): {jpeg['kbit_s']:.0f} kbit/s; vcam would spend "
        f"{jpeg['decode_ms']:.2f} ms decoding and {jpeg['encode_ms']:.2f} ms encoding the clip per picture: "
        f"{per_s:.2f} s of CPU a second, against {rtsp['floor_s'] / args.seconds:.2f} s for decoding the H.264"
    )


if __name__ == "__main__":
    main()
