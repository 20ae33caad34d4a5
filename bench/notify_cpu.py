#!/usr/bin/env python3
"""Does telling the owner cost the camera anything? Capture CPU with every notifier on, and the
receivers at their worst, against the same daemon with none.

    python bench/notify_cpu.py [--seconds 60]

One 720p 15 fps H.264 camera over RTSP (gst-rtsp-server on 127.0.0.1, the traffic footage of
../shared/media looped: an event every few seconds), clips passthrough. Two windows of the same
length: (1) no notifier, metrics off; (2) MQTT to a broker that is down (connection refused),
webhooks to a receiver that never answers and to a port nobody listens on, e-mail to an SMTP
server that is down, ON_MOTION_START/ON_CLIP_SAVED hooks (/bin/true), and Prometheus metrics
scraped every second. The floor, `ffmpeg -threads 1` decoding the same stream, runs alongside
each window. Target (issue #15): the ratio to the floor unchanged, no frame dropped for it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from measure import FOOTAGE, Daemon, floor_cpu, free_port, make_stream, peak_rss_mb, process_cpu, serve


class Hang(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        time.sleep(3600)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def scrape(url: str, stop: threading.Event, counts: list[int]) -> None:
    while not stop.wait(1.0):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read()
            counts[0] += 1
        except OSError:
            counts[1] += 1


def window(settings: dict[str, str], url: str, seconds: float, video: Path, metrics: str | None) -> dict[str, Any]:
    daemon = Daemon(video, settings)
    daemon.wait_connected()
    stop, counts = threading.Event(), [0, 0]
    scraper = None
    if metrics is not None:
        scraper = threading.Thread(target=scrape, args=(metrics, stop, counts), daemon=True)
        scraper.start()
    try:
        time.sleep(3)
        before = process_cpu(daemon.pid)
        floor = floor_cpu(url, seconds)
        used = process_cpu(daemon.pid) - before
        rss = peak_rss_mb(daemon.pid)
    finally:
        stop.set()
        said = daemon.stop()
    names = [e.get("event") for e in said]
    return {
        "vcam_s": used,
        "floor_s": floor,
        "rss_mb": rss,
        "events": names.count("motion_started"),
        "clips": names.count("clip_saved"),
        "frames_dropped": sum(e.get("dropped", 0) for e in said if e.get("event") == "recorder_behind"),
        "errors": sorted({str(n) for e, n in zip(said, names, strict=True) if e.get("level") == "error"}),
        "scrapes": counts[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    hang = ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    hang.daemon_threads = True
    threading.Thread(target=hang.serve_forever, daemon=True).start()
    refused = free_port()  # nothing listens there
    metrics_port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        server, url = serve(make_stream(base, still=False, seconds=int(2 * args.seconds + 90)))
        common = {"RTSP_URL": url, "RECORD_MODE": "passthrough", "SNAPSHOT_INTERVAL": "60", "CLIP_SECONDS": "10"}
        told = {
            "MQTT_URL": f"mqtt://vcam:secret@127.0.0.1:{refused}",
            "WEBHOOK_URLS": f"http://127.0.0.1:{hang.server_address[1]}/hook http://127.0.0.1:{refused}/hook",
            "SMTP_URL": f"smtp://127.0.0.1:{refused}",
            "ALERT_EMAIL_TO": "owner@example.com",
            "ALERT_EMAIL_FROM": "vcam@example.com",
            "ALERT_ON_MOTION": "on",
            "ON_MOTION_START": "/bin/true",
            "ON_CLIP_SAVED": "/bin/true",
            "METRICS_ADDR": f"127.0.0.1:{metrics_port}",
        }
        rows: list[tuple[str, dict[str, Any]]] = []
        try:
            for label, extra, metrics in (
                ("no notifier, metrics off", {"METRICS_ADDR": "off"}, None),
                ("all on, every receiver down or hanging", told, f"http://127.0.0.1:{metrics_port}/metrics"),
            ):
                row = window({**common, **extra}, url, args.seconds, base / f"video{len(rows)}", metrics)
                rows.append((label, row))
                print(json.dumps({"what": label, **row}), file=sys.stderr)
        finally:
            server.terminate()
            server.wait()
            hang.shutdown()
    footage = f"{FOOTAGE.name} (../shared/media)" if FOOTAGE.is_file() else "ffmpeg's testsrc2 (no ../shared/media)"
    print(f"720p 15 fps camera from {footage}, clips passthrough, {args.seconds:g} s windows")
    print("| notifiers | vcam CPU | decode floor (same window) | vcam / floor | events, clips | peak RSS | scrapes |")
    print("|---|---|---|---|---|---|---|")
    for label, r in rows:
        ratio = r["vcam_s"] / r["floor_s"]
        print(
            f"| {label} | {r['vcam_s']:.2f} s | {r['floor_s']:.2f} s | {ratio:.2f}x | "
            f"{r['events']}, {r['clips']} | {r['rss_mb']:.0f} MB | {r['scrapes']} |"
        )
    change = (rows[1][1]["vcam_s"] / rows[1][1]["floor_s"]) / (rows[0][1]["vcam_s"] / rows[0][1]["floor_s"])
    print(f"with every notifier on and its receiver down: {change:.2f}x the CPU of none (target: unchanged)")
    for label, r in rows:
        print(f"{label}: error events {', '.join(r['errors']) or 'none'}; packets dropped {r['frames_dropped']}")


if __name__ == "__main__":
    main()
