"""What the bench scripts share: where things are, CPU time, and a real RTSP server to measure against."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FOOTAGE = REPO.parent / "shared" / "media" / "traffic_camera.mp4"  # real footage, when ../shared/media is here


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(clip: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """gst-rtsp-server (tests/rtsp_server.py, under Debian's Python) serving ``clip`` on loopback
    (on ``port``, or a free one): the process, and the URL. The caller terminates it."""
    port = port or free_port()
    server = subprocess.Popen(
        ["/usr/bin/python3", str(REPO / "tests" / "rtsp_server.py"), "--file", str(clip), "--port", str(port)],
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    if not server.stdout.readline().startswith(b"READY"):
        raise SystemExit("the RTSP server did not start")
    return server, f"rtsp://127.0.0.1:{port}/stream"


TICKS = os.sysconf("SC_CLK_TCK")


def make_stream(
    folder: Path,
    still: bool,
    seconds: int,
    *,
    width: int = 1280,
    height: int = 720,
    gop: int = 30,
    bitrate: str | None = None,
) -> Path:
    """15 fps H.264 (720p unless told) made from the real traffic footage (looped) when
    ../shared/media has it, else from ffmpeg's testsrc2, a keyframe every ``gop`` frames. The
    still scene is the first picture held, with sensor noise. x264's quality mode (CRF 23) unless
    ``bitrate`` (e.g. "2M") asks for a constant bitrate, as IP cameras send by default: a still
    scene then spends its bits on the noise, in every picture."""
    rate = f"_{bitrate}" if bitrate else ""
    path = folder / f"{'still' if still else 'moving'}_{width}x{height}_g{gop}{rate}_{seconds}s.mp4"
    if FOOTAGE.is_file():
        source = ["-stream_loop", "-1", "-i", str(FOOTAGE)]
        scale = f"scale={width}:{height},fps=15"
    else:
        source = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=15"]
        scale = "null"
    held = "select=eq(n\\,0),loop=-1:1:0,setpts=N/15/TB,noise=alls=4:allf=t," if still else ""
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", *source, "-vf", held + scale, "-t", str(seconds), "-r", "15"),
            *("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", str(gop)),
            *("-keyint_min", str(gop), "-sc_threshold", "0"),
            *(("-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate) if bitrate else ()),
            *("-an", str(path)),
        ],
        check=True,
    )
    return path


def floor_command(url: str, seconds: float, *, keyframes_only: bool = False) -> list[str]:
    """The floor: ffmpeg decoding every frame of the stream on one thread, for ``seconds``; or,
    ``keyframes_only``, the least any keyframes-only decoder can do (``-skip_frame nokey``)."""
    skip = ("-skip_frame", "nokey") if keyframes_only else ()
    decode = ["ffmpeg", "-v", "error", "-threads", "1", *skip, "-rtsp_transport", "tcp", "-i", url]
    return [*decode, "-t", str(seconds), "-f", "null", "-"]


def floor_cpu(url: str, seconds: float, *, keyframes_only: bool = False) -> float:
    before = cpu_children()
    subprocess.run(floor_command(url, seconds, keyframes_only=keyframes_only), check=True)
    return cpu_children() - before


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread, by the name each thread gives the kernel (vcam/threads.py)."""
    found: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICKS
    return found


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Daemon:
    """The daemon under measurement (vcam_runner.py ARGS with ``settings`` over this environment),
    its JSON log lines read all along by a thread of their own: a log pipe nobody reads fills up
    and stalls the daemon's logging threads (a soak that did not read it measured a daemon stuck
    after its first 64 KB of log)."""

    def __init__(self, video_dir: Path, settings: dict[str, str], *args: str) -> None:
        env = dict(os.environ, VIDEO_DIR=str(video_dir), LOG_FORMAT="json", PYTHONUNBUFFERED="1")
        env["WEB_ADDR"] = f"127.0.0.1:{free_port()}"  # on, as by default, where no other run's is
        env.update(settings)
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "vcam_runner.py"), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pid = self.process.pid
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if line[:1] == "{":
                with contextlib.suppress(ValueError):
                    self.events.append(json.loads(line))

    def said(self, event: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("event") == event]

    def wait_connected(self, count: int = 1, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.said("camera_connected")) < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"the daemon did not connect {count} camera(s) within {timeout:g} s")
            time.sleep(0.1)

    def stop(self) -> list[dict[str, Any]]:
        """SIGTERM; everything it said."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)
        self._reader.join(5)
        return list(self.events)
