#!/usr/bin/env python3
"""Several cameras in one daemon: CPU against the sum of their decode floors, drops, memory.

    python bench/cameras.py [--cameras 4] [--seconds 60] [--mode passthrough]

Serves N 720p 15 fps H.264 streams, each from its own gst-rtsp-server on 127.0.0.1 (the traffic
footage of ../shared/media looped, where traffic moves all the time, so every camera records),
and runs one daemon with a cameras file naming all of them. Once every camera is connected, N
`ffmpeg -threads 1` decoders (one per stream: the floor) run alongside it over the same window.
Reported: the daemon's CPU over the window against the sum of the floors, per thread kind, its
peak RSS, and per camera the clips saved, packets the recorder dropped and seconds decoded
keyframes only (both should be 0). Targets (issue #14): passthrough <= 1.3x the sum of the floors,
0 dropped, peak RSS <= 100 MB + 40 MB per camera.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from measure import (
    FOOTAGE,
    Daemon,
    cpu_children,
    floor_command,
    make_stream,
    peak_rss_mb,
    process_cpu,
    serve,
    thread_cpu,
)


def floors_cpu(urls: list[str], seconds: float) -> float:
    """CPU of one `ffmpeg -threads 1` decoding each stream, all at once over the same window."""
    before = cpu_children()
    decoders = [subprocess.Popen(floor_command(url, seconds)) for url in urls]
    for decoder in decoders:
        decoder.wait()
    return cpu_children() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--mode", choices=["passthrough", "annotated"], default="passthrough")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        clip = make_stream(base, still=False, seconds=int(args.seconds + 40))
        servers = [serve(clip) for _ in range(args.cameras)]
        names = [f"cam{i + 1}" for i in range(args.cameras)]
        cameras = base / "vcam.toml"
        cameras.write_text(
            f'[defaults]\nrecord_mode = "{args.mode}"\nsnapshot_interval = 60\n'
            + "".join(
                f'\n[[cameras]]\nname = "{n}"\nurl = "{url}"\n' for n, (_, url) in zip(names, servers, strict=True)
            )
        )
        daemon = Daemon(base / "video", {}, "--config", str(cameras))
        daemon.wait_connected(args.cameras)
        try:
            time.sleep(2)  # past the start of the first clips
            before, threads_before = process_cpu(daemon.pid), thread_cpu(daemon.pid)
            floor = floors_cpu([url for _, url in servers], args.seconds)
            used = process_cpu(daemon.pid) - before
            threads = {n: cpu - threads_before.get(n, 0.0) for n, cpu in thread_cpu(daemon.pid).items()}
            rss = peak_rss_mb(daemon.pid)
        finally:
            said = daemon.stop()
            for server, _ in servers:
                server.terminate()
                server.wait()
    per_camera = {e["camera"]: e for e in said if e["event"] == "recorder_stopped"}
    readers = {e["camera"]: e for e in said if e["event"] == "reader_stopped"}
    kinds: dict[str, float] = defaultdict(float)
    for name, cpu in threads.items():  # cam1-reader, cam2-reader... -> reader
        kinds[name.rsplit("-", 1)[-1] if name.startswith("cam") else name] += cpu
    footage = f"{FOOTAGE.name} (../shared/media)" if FOOTAGE.is_file() else "ffmpeg's testsrc2 (no ../shared/media)"
    print(f"{args.cameras} cameras, 720p 15 fps H.264 over RTSP from {footage}, {args.mode}, {args.seconds:g} s window")
    print(
        "| cameras | floors (sum) | vcam | ratio | peak RSS | target RSS | clips | packets dropped | keyframes only |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    clips = sum(int(e["clips_saved"]) for e in per_camera.values())
    dropped = sum(int(e["packets_dropped"]) for e in per_camera.values())
    lagging = sum(float(e["keyframes_only_s"]) for e in readers.values())
    print(
        f"| {args.cameras} | {floor:.2f} s | {used:.2f} s | {used / floor:.2f}x | {rss:.0f} MB "
        f"| {100 + 40 * args.cameras} MB | {clips} | {dropped} | {lagging:g} s |"
    )
    print(
        "CPU seconds per kind of thread: "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(kinds.items(), key=lambda t: -t[1]) if v > 0)
    )


if __name__ == "__main__":
    main()
