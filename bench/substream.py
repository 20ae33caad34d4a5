#!/usr/bin/env python3
"""What a sub-stream saves: a 1080p camera detected on its own picture, or on a 640x360 sub-stream.

    python bench/substream.py [--seconds 60] [--mode passthrough]

Serves the same scene (the traffic footage of ../shared/media looped, traffic all the time) as a
1080p 15 fps stream and a 640x360 one, each from its own gst-rtsp-server on 127.0.0.1, and runs
the daemon twice over the same window length: once detecting on the 1080p stream, once with
DETECT_URL on the 640x360 one, recording the 1080p stream in both. The floor, `ffmpeg -threads 1`
decoding the 1080p stream, runs alongside each. Target (issue #14): with the sub-stream, the daemon
costs <= 0.5x of what it costs detecting on the main stream.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from measure import FOOTAGE, Daemon, floor_cpu, make_stream, peak_rss_mb, process_cpu, serve


def run(settings: dict[str, str], main_url: str, seconds: float, video_dir: Path) -> tuple[float, float, float]:
    """(daemon CPU, floor CPU, peak RSS MB) over one window."""
    daemon = Daemon(video_dir, settings)
    daemon.wait_connected(2 if "DETECT_URL" in settings else 1)
    try:
        time.sleep(2)
        before = process_cpu(daemon.pid)
        floor = floor_cpu(main_url, seconds)
        used = process_cpu(daemon.pid) - before
        rss = peak_rss_mb(daemon.pid)
    finally:
        daemon.stop()
    return used, floor, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--mode", choices=["passthrough", "annotated"], default="passthrough")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        length = int(2 * args.seconds + 60)
        main_server, main_url = serve(make_stream(base, still=False, seconds=length, width=1920, height=1080))
        sub_server, sub_url = serve(make_stream(base, still=False, seconds=length, width=640, height=360))
        rows: list[tuple[str, float, float, float]] = []
        try:
            for label, extra in (
                ("detecting on the 1080p stream", {}),
                ("detecting on the 640x360 sub-stream", {"DETECT_URL": sub_url}),
            ):
                settings = {"RTSP_URL": main_url, "RECORD_MODE": args.mode, "SNAPSHOT_INTERVAL": "60", **extra}
                used, floor, rss = run(settings, main_url, args.seconds, base / f"video{len(rows)}")
                rows.append((label, used, floor, rss))
                print(json.dumps({"what": label, "vcam_s": used, "floor_s": floor, "rss_mb": rss}), file=sys.stderr)
        finally:
            for server in (main_server, sub_server):
                server.terminate()
                server.wait()
    footage = f"{FOOTAGE.name} (../shared/media)" if FOOTAGE.is_file() else "ffmpeg's testsrc2 (no ../shared/media)"
    print(f"1080p 15 fps camera from {footage}, clips {args.mode}, {args.seconds:g} s windows")
    print("| detection on | vcam CPU | 1080p decode floor (same window) | vcam / floor | peak RSS |")
    print("|---|---|---|---|---|")
    for label, used, floor, rss in rows:
        print(f"| {label} | {used:.2f} s | {floor:.2f} s | {used / floor:.2f}x | {rss:.0f} MB |")
    # each against its own window's floor, so a machine that drifts between the runs cancels out
    saving = (rows[1][1] / rows[1][2]) / (rows[0][1] / rows[0][2])
    print(f"with the sub-stream the daemon costs {saving:.2f}x of detecting on the main stream (target <= 0.5x)")


if __name__ == "__main__":
    main()
