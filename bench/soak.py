#!/usr/bin/env python3
"""Memory over a long run: does the daemon's RSS stay flat?

    python bench/soak.py [--minutes 60] [--drop-every 10]

One camera (720p 15 fps H.264 over RTSP from gst-rtsp-server on 127.0.0.1, the traffic footage
of ../shared/media looped: motion all the time) recorded annotated, so clips are encoded back to
back; every ``--drop-every`` minutes the camera is killed and started again on the same port, as
a camera that reboots. The daemon's RSS is sampled every 10 s. Reported: RSS at the end of the
warm-up (two drop intervals unless ``--warm-up``), the slope of a least-squares line through the
samples after it (target, issue #14: <= 0.05 MB/min) and after the first interval, each
interval's low point, clips saved and reconnects.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from measure import Daemon, make_stream, serve

SAMPLE_S = 10.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minutes, MB)."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (m - mean_m) for t, m in points) / spread if spread else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--drop-every", type=float, default=10, help="minutes between camera drops")
    parser.add_argument(
        "--warm-up", type=float, default=None, help="minutes left out of the slope (default: two drop intervals)"
    )
    args = parser.parse_args()
    interval = args.drop_every * 60
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        clip = make_stream(base, still=False, seconds=int(interval + 60))
        server, url = serve(clip)
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        settings = {"RTSP_URL": url, "RECORD_MODE": "annotated", "RECONNECT_DELAY": "1", "RETENTION_DAYS": "0.01"}
        daemon = Daemon(base / "video", settings)
        daemon.wait_connected()
        started = time.monotonic()
        samples: list[tuple[float, float]] = []
        drops = 0
        try:
            while (now := time.monotonic()) - started < args.minutes * 60:
                samples.append(((now - started) / 60, rss_mb(daemon.pid)))
                if now - started >= (drops + 1) * interval:
                    drops += 1
                    server.terminate()  # the camera goes away for a few seconds, and returns
                    server.wait()
                    time.sleep(5)
                    server = serve(clip, port)[0]
                time.sleep(SAMPLE_S)
        finally:
            said = daemon.stop()
            server.terminate()
            server.wait()
    # The first reconnects grow the decoder's and encoder's buffer pools to their size (measured:
    # +38 and +12 MB at the first two, under 1 MB at each after): the slope is taken after them.
    warm_up = 2 * args.drop_every if args.warm_up is None else args.warm_up
    warm = [s for s in samples if s[0] >= warm_up]
    stopped = {e["event"]: e for e in said if e["event"] in ("reader_stopped", "recorder_stopped")}
    every = f"camera dropped every {args.drop_every:g} min"
    print(f"soak: {args.minutes:g} min, annotated 720p15, motion all the time, {every}")
    after = f"slope after it: {slope(warm):+.3f} MB/min (target <= 0.05)"
    print(f"RSS after the warm-up ({warm_up:g} min): {warm[0][1]:.1f} MB; {after}")
    everything = [s for s in samples if s[0] >= args.drop_every]
    print(f"slope after the first drop interval: {slope(everything):+.3f} MB/min")
    lows = []
    for k in range(int(args.minutes // args.drop_every)):
        window = [m for t, m in samples if k * args.drop_every <= t < (k + 1) * args.drop_every]
        if window:
            lows.append(f"{min(window):.1f}")
    print("low point per interval (MB): " + ", ".join(lows))
    clips, reconnects = stopped["recorder_stopped"]["clips_saved"], stopped["reader_stopped"]["reconnects"]
    print(f"clips saved {clips}, reconnects {reconnects}")


if __name__ == "__main__":
    main()
