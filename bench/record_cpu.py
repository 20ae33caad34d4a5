#!/usr/bin/env python3
"""Per-camera CPU and memory of the daemon on a live RTSP camera, against the decode floor.

    python bench/record_cpu.py [--seconds 60]

Serves two 720p 15 fps H.264 streams from a real RTSP server on 127.0.0.1 (tests/rtsp_server.py,
Debian's gst-rtsp-server), made from ../shared/media/traffic_camera.mp4 when it is there (else
ffmpeg's testsrc2): a still scene with sensor noise, and the footage itself, where traffic moves.
The daemon runs on each: idle (still scene: decode + detection), recording with stream copy,
recording annotated (outlines drawn, H.264 encoded). The floor is `ffmpeg -threads 1` decoding the
same stream over the same window, run alongside the daemon once its camera is connected: this
shared 2-core machine's speed drifts by 10-15 % from minute to minute, and measuring both at once
cancels that. CPU is user + system time over the window (ffmpeg's whole life, connect included,
so the daemon is charged slightly more than 60 s), also per thread (by the names vcam's threads
give the kernel); RSS is the daemon's peak. Also reported: clips saved, packets the recorder
dropped, and seconds spent decoding keyframes only because decoding fell behind (both should be
0). Targets: idle <= 1.3x, passthrough <= 1.35x, annotated <= 3x, peak RSS <= 150 MB.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import FOOTAGE, Daemon, floor_cpu, make_stream, peak_rss_mb, process_cpu, serve, thread_cpu


def measure(url: str, mode: str, seconds: float, video_dir: Path) -> dict[str, Any]:
    """Floor CPU, daemon CPU over the same window (in all and per thread), daemon peak RSS, and
    what the daemon said at stop: clips saved, packets the recorder dropped, time spent decoding
    keyframes only because decoding fell behind."""
    settings = {"RTSP_URL": url, "RECORD_MODE": mode, "SNAPSHOT_INTERVAL": "60"}
    daemon = Daemon(video_dir, settings)
    daemon.wait_connected()
    time.sleep(2)  # past the start of the first clip
    before, threads_before = process_cpu(daemon.pid), thread_cpu(daemon.pid)
    floor = floor_cpu(url, seconds)
    used = process_cpu(daemon.pid) - before
    threads = {name: cpu - threads_before.get(name, 0.0) for name, cpu in thread_cpu(daemon.pid).items()}
    rss = peak_rss_mb(daemon.pid)
    said = daemon.stop()
    stopped = {e["event"]: e for e in said if e["event"] in ("reader_stopped", "recorder_stopped")}
    return {
        "floor_s": floor,
        "vcam_s": used,
        "ratio": used / floor,
        "rss_mb": rss,
        "clips": stopped["recorder_stopped"]["clips_saved"],
        "dropped": stopped["recorder_stopped"]["packets_dropped"],
        "keyframes_only_s": stopped["reader_stopped"]["keyframes_only_s"],
        "threads": {name: round(cpu, 2) for name, cpu in sorted(threads.items(), key=lambda t: -t[1]) if cpu > 0},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--only", choices=["idle", "passthrough", "annotated"], help="measure one mode")
    args = parser.parse_args()
    length = int(args.seconds + 30)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        for still, mode, label in (
            (True, "annotated", "idle (no motion)"),
            (False, "passthrough", "recording, stream copy"),
            (False, "annotated", "recording, annotated"),
        ):
            if args.only and args.only not in (mode if not still else "idle"):
                continue
            clip = make_stream(base, still, length)
            server, url = serve(clip)
            try:
                row = {"what": label, **measure(url, mode, args.seconds, base / f"video-{mode}-{still}")}
            finally:
                server.terminate()
                server.wait()
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    footage = f"{FOOTAGE.name} (../shared/media)" if FOOTAGE.is_file() else "ffmpeg's testsrc2 (no ../shared/media)"
    print(f"720p 15 fps H.264 over RTSP from {footage}, {args.seconds:g} s windows")
    print("CPU seconds, and their ratio to ffmpeg -threads 1 decoding the same stream over the same window")
    print("| mode | ffmpeg decode (floor) | vcam | ratio | peak RSS | clips saved | packets dropped | keyframes only |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['what']} | {row['floor_s']:.2f} s | {row['vcam_s']:.2f} s | {row['ratio']:.2f}x "
            f"| {row['rss_mb']:.0f} MB | {row['clips']} | {row['dropped']} | {row['keyframes_only_s']} s |"
        )
    print("\nCPU seconds per thread over the window:")
    for row in rows:
        print(f"- {row['what']}: " + ", ".join(f"{name} {cpu:.2f}" for name, cpu in row["threads"].items()))


if __name__ == "__main__":
    main()
