#!/usr/bin/env python3
"""How fast `vcam scan` is against the decode floor, measured in the same run.

    python bench/scan_speed.py [CLIP] [--repeat N]

CLIP defaults to ../shared/media/traffic_camera.mp4 (720p25 H.264), or a 720p25 clip made with
ffmpeg when that is absent. Reports CPU milliseconds per frame (user + system) for:
  floor:   `ffmpeg -threads 1 -i CLIP -f null -` (decode only)
  scan:    vcam's detector and event logic over the same file, default settings, in-process
  command: `bin/vcam scan CLIP` as a user runs it, process start and imports included
and the ratio to the floor (target for scan: <= 1.5). Medians of --repeat runs; compare ratios,
not times: the floor is measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
from measure import FOOTAGE, REPO, cpu_children, cpu_self

sys.path.insert(0, str(REPO))

from vcam.config import MotionSettings
from vcam.scan import scan

DEFAULT_CLIP = FOOTAGE


def count_frames(clip: Path) -> int:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            str(clip),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def floor_ms(clip: Path, frames: int) -> tuple[float, float]:
    before, started = cpu_children(), time.monotonic()
    subprocess.run(["ffmpeg", "-v", "error", "-threads", "1", "-i", str(clip), "-f", "null", "-"], check=True)
    return (cpu_children() - before) / frames * 1000, frames / (time.monotonic() - started)


def scan_ms(clip: Path) -> tuple[float, float, int]:
    before, started = cpu_self(), time.monotonic()
    result = scan(clip, MotionSettings())
    return (
        (cpu_self() - before) / result.frames * 1000,
        result.frames / (time.monotonic() - started),
        len(result.events),
    )


def command_ms(clip: Path, frames: int) -> tuple[float, float]:
    """`vcam scan CLIP` as a user types it: the whole process, start-up and imports included."""
    before, started = cpu_children(), time.monotonic()
    subprocess.run(
        [str(REPO / "bin" / "vcam"), "scan", str(clip)],
        env={"PATH": "/usr/bin:/bin", "VCAM_PYTHON": sys.executable},
        capture_output=True,
        check=True,
    )
    return (cpu_children() - before) / frames * 1000, time.monotonic() - started


def make_clip(folder: Path) -> Path:
    clip = folder / "bench_720p25.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=25",
            "-t",
            "30",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "50",
            str(clip),
        ],
        check=True,
    )
    return clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", nargs="?", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)  # as the daemon and `vcam scan` do
    with tempfile.TemporaryDirectory() as folder:
        clip = args.clip or (DEFAULT_CLIP if DEFAULT_CLIP.exists() else make_clip(Path(folder)))
        frames = count_frames(clip)
        scan(clip, MotionSettings())  # warm caches and imports once
        floors, scans, commands = [], [], []
        for _ in range(args.repeat):
            floors.append(floor_ms(clip, frames))
            scans.append(scan_ms(clip))
            commands.append(command_ms(clip, frames))
        floor = statistics.median(f[0] for f in floors)
        scanned = statistics.median(s[0] for s in scans)
        command = statistics.median(c[0] for c in commands)
        print(f"clip: {clip.name}, {frames} frames, median of {args.repeat} runs")
        print("| what | CPU ms/frame | frames/s (wall) | ratio to floor |")
        print("|---|---|---|---|")
        print(
            f"| ffmpeg -threads 1 decode (floor) | {floor:.2f} | {statistics.median(f[1] for f in floors):.0f} | 1.00 |"
        )
        print(
            f"| vcam scan, default settings | {scanned:.2f} | {statistics.median(s[1] for s in scans):.0f} "
            f"| {scanned / floor:.2f} |"
        )
        print(
            f"| `vcam scan` command, start-up included | {command:.2f} | "
            f"{frames / statistics.median(c[1] for c in commands):.0f} | {command / floor:.2f} |"
        )
        print(f"events found: {scans[0][2]}; the command took {statistics.median(c[1] for c in commands):.2f} s")


if __name__ == "__main__":
    main()
