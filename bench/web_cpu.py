#!/usr/bin/env python3
"""Does the web UI cost the camera anything? Capture CPU with the UI off, on with nobody watching,
and with ten live viewers, a slow one and a page left open.

    python bench/web_cpu.py [--seconds 60]

One 720p 15 fps H.264 camera over RTSP (gst-rtsp-server on 127.0.0.1, the traffic footage of
../shared/media looped: an event every few seconds), clips passthrough. Three windows of the same
length: (1) WEB_ADDR=off; (2) the UI on, nobody watching; (3) ten MJPEG viewers reading as fast
as they can, one that reads 2 KB a second (a phone on bad Wi-Fi), and a page polling
/api/cameras every 5 s. The floor, `ffmpeg -threads 1` decoding the same stream, runs alongside
each window. Target (issue #20): nobody watching costs nothing measurable; viewers delay no
picture or clip (frames and packets dropped 0, clips as long as CLIP_SECONDS).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from measure import FOOTAGE, Daemon, floor_cpu, free_port, make_stream, peak_rss_mb, process_cpu, serve

CLIP_S = 10


def login(port: int, password: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = urlencode({"user": "admin", "password": password, "next": "/"})
    connection.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
    answer = connection.getresponse()
    answer.read()
    found = re.search(r"vcam_session=([^;]+)", answer.headers.get("Set-Cookie", ""))
    connection.close()
    if found is None:
        raise SystemExit(f"login failed: {answer.status}")
    return f"vcam_session={found[1]}"


def viewer(port: int, cookie: str, stop: threading.Event, counts: list[int], index: int) -> None:
    """Reads the live view as fast as it comes; counts the pictures."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/cameras/cam/live.mjpeg", headers={"Cookie": cookie})
    answer = connection.getresponse()
    while not stop.is_set():
        line = answer.fp.readline()
        if not line:
            break
        if line.startswith(b"Content-Length:"):
            answer.fp.readline()
            answer.fp.read(int(line.split(b":")[1]))
            counts[index] += 1
    connection.close()


def slow_viewer(port: int, cookie: str, stop: threading.Event, taken: list[int]) -> None:
    """A phone on bad Wi-Fi: a small receive buffer, 2 KB a second."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET /cameras/cam/live.mjpeg HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n".encode())
    sock.settimeout(5)
    while not stop.wait(1.0):
        try:
            data = sock.recv(2048)
        except OSError:
            break
        if not data:
            break
        taken[0] += len(data)
    sock.close()


def page_left_open(port: int, cookie: str, stop: threading.Event, polls: list[int]) -> None:
    while not stop.wait(5.0):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/api/cameras", headers={"Cookie": cookie})
        connection.getresponse().read()
        connection.close()
        polls[0] += 1


def window(settings: dict[str, str], url: str, seconds: float, video: Path, watchers: int) -> dict[str, Any]:
    daemon = Daemon(video, settings)
    daemon.wait_connected()
    stop = threading.Event()
    counts, taken, polls = [0] * watchers, [0], [0]
    workers: list[threading.Thread] = []
    if watchers:
        port = int(settings["WEB_ADDR"].rsplit(":", 1)[1])
        deadline = time.monotonic() + 20
        while not daemon.said("web_first_user") and time.monotonic() < deadline:
            time.sleep(0.1)
        cookie = login(port, daemon.said("web_first_user")[0]["password"])
        for index in range(watchers):
            workers.append(threading.Thread(target=viewer, args=(port, cookie, stop, counts, index), daemon=True))
        workers.append(threading.Thread(target=slow_viewer, args=(port, cookie, stop, taken), daemon=True))
        workers.append(threading.Thread(target=page_left_open, args=(port, cookie, stop, polls), daemon=True))
        for worker in workers:
            worker.start()
    try:
        time.sleep(3)
        before = process_cpu(daemon.pid)
        first = list(counts)
        floor = floor_cpu(url, seconds)
        used = process_cpu(daemon.pid) - before
        pictures = [b - a for a, b in zip(first, counts, strict=True)]
        rss = peak_rss_mb(daemon.pid)
    finally:
        stop.set()
        said = daemon.stop()
    names = [e.get("event") for e in said]
    clips = [e["duration_s"] for e in said if e.get("event") == "clip_saved" and not e.get("partial")]
    return {
        "vcam_s": used,
        "floor_s": floor,
        "rss_mb": rss,
        "events": names.count("motion_started"),
        "clips": len(clips),
        "clip_s": (min(clips), max(clips)) if clips else None,
        "packets_dropped": sum(e.get("dropped", 0) for e in said if e.get("event") == "recorder_behind"),
        "viewer_fps": (min(pictures) / seconds, max(pictures) / seconds) if pictures else None,
        "slow_bytes": taken[0],
        "polls": polls[0],
        "errors": sorted({str(n) for e, n in zip(said, names, strict=True) if e.get("level") == "error"}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        server, url = serve(make_stream(base, still=False, seconds=int(3 * args.seconds + 120)))
        common = {
            "RTSP_URL": url,
            "CAMERA_NAME": "cam",
            "RECORD_MODE": "passthrough",
            "SNAPSHOT_INTERVAL": "60",
            "CLIP_SECONDS": str(CLIP_S),
            "METRICS_ADDR": "off",
        }
        rows: list[tuple[str, dict[str, Any]]] = []
        try:
            for label, web, watchers in (
                ("web UI off", "off", 0),
                ("on, nobody watching", f"127.0.0.1:{free_port()}", 0),
                ("10 live viewers + a slow one + a page polling", f"127.0.0.1:{free_port()}", 10),
            ):
                row = window({**common, "WEB_ADDR": web}, url, args.seconds, base / f"video{len(rows)}", watchers)
                rows.append((label, row))
                print(json.dumps({"what": label, **row}), file=sys.stderr)
        finally:
            server.terminate()
            server.wait()
    footage = f"{FOOTAGE.name} (../shared/media)" if FOOTAGE.is_file() else "ffmpeg's testsrc2 (no ../shared/media)"
    print(f"720p 15 fps camera from {footage}, clips passthrough ({CLIP_S} s), {args.seconds:g} s windows")
    print("| web UI | vcam CPU | decode floor (same window) | vcam / floor | clips (length) | packets dropped | RSS |")
    print("|---|---|---|---|---|---|---|")
    for label, r in rows:
        ratio = r["vcam_s"] / r["floor_s"]
        length = f"{r['clip_s'][0]:.1f}-{r['clip_s'][1]:.1f} s" if r["clip_s"] else "-"
        print(
            f"| {label} | {r['vcam_s']:.2f} s | {r['floor_s']:.2f} s | {ratio:.2f}x | {r['clips']} ({length}) | "
            f"{r['packets_dropped']} | {r['rss_mb']:.0f} MB |"
        )
    base_ratio = rows[0][1]["vcam_s"] / rows[0][1]["floor_s"]
    for label, r in rows[1:]:
        print(f"{label}: {r['vcam_s'] / r['floor_s'] / base_ratio:.2f}x the CPU of the UI off")
    watched = rows[2][1]
    if watched["viewer_fps"]:
        low, high = watched["viewer_fps"]
        slow = watched["slow_bytes"]
        print(f"each live viewer got {low:.1f}-{high:.1f} pictures a second; the slow one took {slow} bytes")
    for label, r in rows:
        print(f"{label}: error events {', '.join(r['errors']) or 'none'}")


if __name__ == "__main__":
    main()
