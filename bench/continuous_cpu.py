#!/usr/bin/env python3
"""What continuous recording costs: the daemon with RECORD=events, continuous and both, in
passthrough, against the decode floor and against event recording, on the same stream.

    python bench/continuous_cpu.py [--seconds 60] [--segment-seconds 60]

Serves one 720p 15 fps H.264 stream from a real RTSP server on 127.0.0.1 (tests/rtsp_server.py,
Debian's gst-rtsp-server), made from ../shared/media/traffic_camera.mp4 when it is there (else
ffmpeg's testsrc2), where traffic moves all the time: event clips are recorded all along, as in
the worst case for RECORD=both. Each setting gets its own daemon; the floor, `ffmpeg -threads 1`
decoding every frame of the same stream, runs over the same window alongside it (this shared
machine's speed drifts from minute to minute; measuring both at once cancels that). CPU is user
+ system time over the window. The segments are copied packets: the target is that
continuous costs no more than passthrough event recording (ratio to it <= 1.05) and both no more
than 1.1x it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import FOOTAGE, Daemon, floor_cpu, make_stream, peak_rss_mb, process_cpu, serve

SETTINGS = (("events", "events (clips on motion)"), ("continuous", "continuous"), ("both", "both"))


def measure(url: str, record: str, seconds: float, segment_seconds: float, video_dir: Path) -> dict[str, Any]:
    settings = {
        "RTSP_URL": url,
        "RECORD": record,
        "RECORD_MODE": "passthrough",
        "SEGMENT_SECONDS": f"{segment_seconds:g}",
        "SNAPSHOT_INTERVAL": "60",
    }
    daemon = Daemon(video_dir, settings)
    daemon.wait_connected()
    time.sleep(3)  # past the start of the first clip and segment
    before = process_cpu(daemon.pid)
    floor = floor_cpu(url, seconds)
    used = process_cpu(daemon.pid) - before
    rss = peak_rss_mb(daemon.pid)
    said = daemon.stop()
    stopped = next(e for e in said if e["event"] == "recorder_stopped")
    return {
        "record": record,
        "floor_s": floor,
        "vcam_s": used,
        "ratio": used / floor,
        "rss_mb": rss,
        "clips": stopped["clips_saved"],
        "segments": stopped["segments_saved"],
        "dropped": stopped["packets_dropped"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--segment-seconds", type=float, default=60)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        clip = make_stream(base, False, int(args.seconds + 40))
        for record, label in SETTINGS:
            server, url = serve(clip)
            try:
                row = {"what": label, **measure(url, record, args.seconds, args.segment_seconds, base / record)}
            finally:
                server.terminate()
                server.wait()
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    events = rows[0]["ratio"]
    footage = f"{FOOTAGE.name} (../shared/media)" if FOOTAGE.is_file() else "ffmpeg's testsrc2 (no ../shared/media)"
    print(f"720p 15 fps H.264 over RTSP from {footage}, moving all the time; passthrough; {args.seconds:g} s windows;")
    print(f"SEGMENT_SECONDS={args.segment_seconds:g}. CPU seconds, ratio to ffmpeg -threads 1 decoding the same stream")
    print("over the same window, and to RECORD=events (each ratio to the floor of its own run)")
    print(
        "| RECORD | ffmpeg decode (floor) | vcam | ratio to floor | ratio to events | peak RSS | clips | segments "
        "| packets dropped |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['record']} | {row['floor_s']:.2f} s | {row['vcam_s']:.2f} s | {row['ratio']:.2f}x "
            f"| {row['ratio'] / events:.2f}x | {row['rss_mb']:.0f} MB | {row['clips']} | {row['segments']} "
            f"| {row['dropped']} |"
        )


if __name__ == "__main__":
    main()
