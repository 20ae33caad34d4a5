#!/usr/bin/env python3
"""Where the time goes, each cost against the decode floor measured in the same run.

    python bench/costs.py [--frames 200] [--opens 5]

On 720p pictures of ../shared/media/traffic_camera.mp4 (or ffmpeg's testsrc2 when it is absent):
  floor:      `ffmpeg -threads 1` decoding the clip, CPU ms per picture
  detection:  MotionDetector.detect per analysed picture (320 px, default settings), for the
              running Gaussian and for MOG2, caches warm (the daemon analyses 5 pictures a second)
  encode:     x264 as annotated clips use it (vcam.clipfiles.ENCODER_OPTIONS), CPU ms per picture
  open:       `vcam probe` against a real RTSP server on 127.0.0.1 (gst-rtsp-server), seconds from
              starting to connect to the first decoded picture, median of --opens
Ratios are to the floor per picture; compare ratios, not times (this machine's speed drifts).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
from measure import FOOTAGE, REPO, cpu_children, cpu_self, serve

sys.path.insert(0, str(REPO))

from vcam.clipfiles import ENCODER_OPTIONS, ENCODER_TIME_BASE
from vcam.config import MotionSettings
from vcam.motion import MotionDetector


def make_clip(folder: Path, frames: int) -> Path:
    """The footage (or testsrc2) as 720p H.264, ``frames`` pictures, a keyframe every 2 s."""
    source = ["-stream_loop", "-1", "-i", str(FOOTAGE)] if FOOTAGE.is_file() else ["-f", "lavfi", "-i", "testsrc2"]
    clip = folder / "costs_720p.mp4"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", *source, "-vf", "scale=1280:720,fps=25", "-frames:v", str(frames)),
            *("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "50", "-an", str(clip)),
        ],
        check=True,
    )
    return clip


def floor_ms(clip: Path, frames: int) -> float:
    before = cpu_children()
    subprocess.run(["ffmpeg", "-v", "error", "-threads", "1", "-i", str(clip), "-f", "null", "-"], check=True)
    return (cpu_children() - before) / frames * 1000


def pictures(clip: Path) -> list[av.VideoFrame]:
    with av.open(str(clip)) as container:
        return list(container.decode(video=0))


def detection_ms(gray: list[np.ndarray], algorithm: str) -> float:
    detector = MotionDetector(MotionSettings(algorithm=algorithm), gray[0].shape[1], gray[0].shape[0])
    for picture in gray[:10]:
        detector.detect(picture)  # past the warm-up frames
    before = cpu_self()
    for picture in gray[10:]:
        detector.detect(picture)
    return (cpu_self() - before) / len(gray[10:]) * 1000


def encode_ms(frames: list[av.VideoFrame]) -> float:
    output = av.open(str(Path(tempfile.gettempdir()) / "costs_encode.mp4"), "w", format="mp4")
    stream = output.add_stream("libx264", rate=25, options=dict(ENCODER_OPTIONS, g="50"))
    stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
    stream.codec_context.time_base = ENCODER_TIME_BASE
    before = cpu_self()
    for index, frame in enumerate(frames):
        frame.pts, frame.time_base = index * 40, ENCODER_TIME_BASE
        for packet in stream.encode(frame):
            output.mux(packet)
    for packet in stream.encode(None):
        output.mux(packet)
    used = cpu_self() - before
    output.close()
    return used / len(frames) * 1000


def open_seconds(clip: Path, opens: int) -> float:
    server, url = serve(clip)
    try:
        found = []
        for _ in range(opens):
            result = subprocess.run(
                [str(REPO / "bin" / "vcam"), "probe", url],
                env={"PATH": "/usr/bin:/bin", "VCAM_PYTHON": sys.executable},
                capture_output=True,
                text=True,
                check=True,
            )
            found.append(float(result.stdout.split("first_frame_s=")[1].split()[0]))
        return statistics.median(found)
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--opens", type=int, default=5)
    args = parser.parse_args()
    cv2.setNumThreads(1)  # as the daemon does
    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder), args.frames)
        decoded = pictures(clip)
        gray = [np.ascontiguousarray(frame.to_ndarray(format="gray")) for frame in decoded]
        floor = statistics.median(floor_ms(clip, len(decoded)) for _ in range(3))
        gauss = detection_ms(gray, "gauss")
        mog2 = detection_ms(gray, "mog2")
        encode = encode_ms(decoded)
        opened = open_seconds(clip, args.opens)
    source = FOOTAGE.name if FOOTAGE.is_file() else "testsrc2"
    print(f"720p pictures of {source}; CPU ms per picture, ratio to the decode floor measured in this run")
    print("| what | ms per picture | ratio to floor |")
    print("|---|---|---|")
    for what, ms in (
        ("ffmpeg -threads 1 decode (floor)", floor),
        ("detection, running Gaussian (default)", gauss),
        ("detection, MOG2", mog2),
        ("x264 encode (annotated clips)", encode),
    ):
        print(f"| {what} | {ms:.2f} | {ms / floor:.2f}x |")
    print(f"RTSP open to first picture (vcam probe, median of {args.opens}): {opened:.2f} s")


if __name__ == "__main__":
    main()
