"""What the bench scripts share: where things are, CPU time, and a real RTSP server to measure against."""

from __future__ import annotations

import resource
import socket
import subprocess
from pathlib import Path

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


def serve(clip: Path) -> tuple[subprocess.Popen[bytes], str]:
    """gst-rtsp-server (tests/rtsp_server.py, under Debian's Python) serving ``clip`` on loopback:
    the process, and the URL. The caller terminates it."""
    port = free_port()
    server = subprocess.Popen(
        ["/usr/bin/python3", str(REPO / "tests" / "rtsp_server.py"), "--file", str(clip), "--port", str(port)],
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    if not server.stdout.readline().startswith(b"READY"):
        raise SystemExit("the RTSP server did not start")
    return server, f"rtsp://127.0.0.1:{port}/stream"
