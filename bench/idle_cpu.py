#!/usr/bin/env python3
"""What an idle camera costs when only its keyframes are decoded (IDLE_DECODE=keyframes), and how
soon motion is seen.

    python bench/idle_cpu.py [--seconds 60]

Streams: 720p 15 fps H.264 from gst-rtsp-server on 127.0.0.1, made from the traffic footage of
../shared/media: the first picture held with sensor noise (idle), with a keyframe every 1 s and
every 2 s; and, for motion, 20 s of that still picture followed by the footage itself. Clips are
passthrough. Each daemon window has the floor, `ffmpeg -threads 1` decoding every frame of the
same stream, measured alongside it (four of them for four cameras).

Beside each keyframes-only row, a second window measures ffmpeg decoding only the keyframes
(`-skip_frame nokey`): what the decoding alone costs, which no reader of that stream can go below.
Streams are encoded two ways: x264's quality mode, where a still scene's pictures between
keyframes are nearly empty, and a constant 2 Mbit/s as cameras send by default.

Targets (issue #18): idle, either GOP, <= 0.35x the floor; four idle cameras <= 0.35x the sum of
four floors; recording during motion unchanged (<= 1.35x); motion_started at most one keyframe
interval + 0.5 s after the first moving picture, and the clip holding PRE_SECONDS before it.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from measure import FOOTAGE, Daemon, cpu_children, floor_command, floor_cpu, make_stream, process_cpu, serve

STILL_S = 20  # the motion stream: this long still, then the footage
CAMERA_BITRATE = "2M"  # what IP cameras send at 720p by default, at a constant rate


def window(
    settings: dict[str, str], url: str, seconds: float, video: Path, floors: int = 1, *, keyframe_floor: bool = False
) -> dict[str, Any]:
    """Daemon CPU and floor CPU over one window; ``floors`` ffmpeg decoders run side by side.
    ``keyframe_floor``: then a second window beside ffmpeg decoding the keyframes only."""
    daemon = Daemon(video, settings, *(("--config", settings["CONFIG_FILE"]) if "CONFIG_FILE" in settings else ()))
    daemon.wait_connected(floors)
    time.sleep(12)  # four keyframe intervals are measured before keyframes-only starts (2 s GOP: 8 s)
    before = process_cpu(daemon.pid)
    if floors == 1:
        floor = floor_cpu(url, seconds)
    else:
        start = cpu_children()
        for process in [subprocess.Popen(floor_command(url, seconds)) for _ in range(floors)]:
            process.wait()
        floor = cpu_children() - start
    used = process_cpu(daemon.pid) - before
    row: dict[str, Any] = {"vcam_s": used, "floor_s": floor, "ratio": used / floor}
    if keyframe_floor:
        before = process_cpu(daemon.pid)
        keyframes = floor_cpu(url, seconds, keyframes_only=True)
        row.update(keyframes_s=keyframes, ratio_to_keyframes=(process_cpu(daemon.pid) - before) / keyframes)
    said = daemon.stop()
    row["idle_decoding"] = sorted({str(e.get("mode")) for e in said if e.get("event") == "idle_decoding"})
    return row


def latency(url: str, gop_s: float, video: Path) -> dict[str, Any]:
    """Seconds from the first moving picture on the camera to motion_started, and how much of the
    clip comes before the event's start."""
    pre = 3.0
    settings = {"RTSP_URL": url, "RECORD_MODE": "passthrough", "PRE_SECONDS": str(pre), "CLIP_SECONDS": "10"}
    daemon = Daemon(video, settings)
    daemon.wait_connected()
    connected = _when(daemon.said("camera_connected")[0])
    deadline = time.monotonic() + STILL_S + 30
    while not daemon.said("motion_started") and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(12)  # the clip is saved
    said = daemon.stop()
    started = next(e for e in said if e.get("event") == "motion_started")
    first_frame_s = float(daemon.said("camera_connected")[0].get("first_frame_s", 0.0))
    # the camera's picture 0 was on its way when the daemon connected: moving pictures begin STILL_S later
    motion_on_camera = connected - first_frame_s + STILL_S
    with sqlite3.connect(video / "events.sqlite3") as db:
        event_start = db.execute("SELECT start FROM events ORDER BY start LIMIT 1").fetchone()[0]
        clip_start = db.execute("SELECT min(start) FROM clips").fetchone()[0]
    return {
        "gop_s": gop_s,
        "latency_s": _when(started) - motion_on_camera,
        "event_start_after_motion_s": float(event_start) - motion_on_camera,
        "clip_before_event_s": float(event_start) - float(clip_start),
    }


def _when(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"]).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    length = int(args.seconds + 60)
    rows: list[tuple[str, dict[str, Any]]] = []
    waits: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        servers = []
        try:
            for bitrate, gop in ((None, 15), (None, 30), (CAMERA_BITRATE, 15), (CAMERA_BITRATE, 30)):
                server, url = serve(make_stream(base, still=True, seconds=length, gop=gop, bitrate=bitrate))
                servers.append(server)
                encoded = f"constant {CAMERA_BITRATE}bit/s" if bitrate else "x264 CRF 23"
                for mode in ("keyframes",) if bitrate else ("all", "keyframes"):
                    settings = {"RTSP_URL": url, "RECORD_MODE": "passthrough", "IDLE_DECODE": mode}
                    least = mode == "keyframes"
                    row = window(settings, url, args.seconds, base / f"v{len(rows)}", keyframe_floor=least)
                    rows.append((f"idle, {encoded}, keyframe every {gop // 15} s, IDLE_DECODE={mode}", row))
                    print(json.dumps({"what": rows[-1][0], **row}), file=sys.stderr)
                if gop == 30 and bitrate is None:
                    config = base / "four.toml"
                    config.write_text(
                        "".join(
                            f'[[cameras]]\nname = "cam{i}"\nurl = "{url}"\nrecord_mode = "passthrough"\n\n'
                            for i in range(4)
                        )
                    )
                    row = window({"CONFIG_FILE": str(config)}, url, args.seconds, base / "four", floors=4)
                    rows.append(("four idle cameras, keyframe every 2 s, keyframes (sum of four floors)", row))
                    print(json.dumps({"what": rows[-1][0], **row}), file=sys.stderr)
            moving, moving_url = serve(make_stream(base, still=False, seconds=length, gop=30))
            servers.append(moving)
            row = window({"RTSP_URL": moving_url, "RECORD_MODE": "passthrough"}, moving_url, args.seconds, base / "m")
            rows.append(("motion all the time, passthrough recording, keyframe every 2 s", row))
            for gop in (15, 30):
                joined = still_then_moving(base, gop)
                server, url = serve(joined)
                servers.append(server)
                waits.append(latency(url, gop / 15, base / f"lat{gop}"))
                print(json.dumps(waits[-1]), file=sys.stderr)
        finally:
            for server in servers:
                server.terminate()
                server.wait()
    report(rows, waits, args.seconds)


def still_then_moving(base: Path, gop: int) -> Path:
    """STILL_S of the still scene, then the footage: when motion starts on the camera is known."""
    still = make_stream(base, still=True, seconds=STILL_S, gop=gop)
    then = make_stream(base, still=False, seconds=40, gop=gop)
    joined = base / f"still_then_moving_g{gop}.mp4"
    listing = base / f"list_g{gop}.txt"
    listing.write_text(f"file '{still}'\nfile '{then}'\n")
    concat = ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing)]
    subprocess.run([*concat, "-c", "copy", str(joined)], check=True)
    return joined


def report(rows: list[tuple[str, dict[str, Any]]], waits: list[dict[str, Any]], seconds: float) -> None:
    footage = f"{FOOTAGE.name} (../shared/media)" if FOOTAGE.is_file() else "ffmpeg's testsrc2 (no ../shared/media)"
    print(f"720p 15 fps camera from {footage}, clips passthrough, {seconds:g} s windows")
    head = "| camera | vcam CPU | floor (same window) | vcam / floor | ffmpeg keyframes only / floor | vcam / that |"
    print(head + " logged |")
    print("|---|---|---|---|---|---|---|")
    for label, r in rows:
        modes = ", ".join(r["idle_decoding"])
        least = f"{r['keyframes_s'] / r['floor_s']:.2f}x" if "keyframes_s" in r else "-"
        to_least = f"{r['ratio_to_keyframes']:.2f}x" if "keyframes_s" in r else "-"
        cpu = f"{r['vcam_s']:.2f} s | {r['floor_s']:.2f} s | {r['ratio']:.2f}x"
        print(f"| {label} | {cpu} | {least} | {to_least} | {modes} |")
    print()
    print("| keyframe every | first moving picture -> motion_started | event start after it | clip before the event |")
    print("|---|---|---|---|")
    for w in waits:
        print(
            f"| {w['gop_s']:g} s | {w['latency_s']:.2f} s | {w['event_start_after_motion_s']:.2f} s | "
            f"{w['clip_before_event_s']:.2f} s |"
        )


if __name__ == "__main__":
    main()
