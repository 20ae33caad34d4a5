"""The command line as a user meets it: check, bad settings, the demo camera, --env-file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, Daemon, wait_until

from vcam import app


def vcam(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [sys.executable, "-m", "vcam", *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=30
    )


def test_check_prints_settings_with_password_masked(tmp_path: Path) -> None:
    result = vcam("check", cwd=tmp_path, RTSP_URL="rtsp://admin:hunter2@cam.local/live", VIDEO_DIR=str(tmp_path / "v"))
    assert result.returncode == 0, result.stderr
    assert "RTSP_URL=rtsp://admin:***@cam.local/live" in result.stdout
    assert f"VIDEO_DIR={tmp_path / 'v'}" in result.stdout
    assert "STALL_TIMEOUT=10" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr


def test_bad_settings_exit_78_with_one_clear_line_each_and_no_traceback(tmp_path: Path) -> None:
    result = vcam(
        "check", cwd=tmp_path, RTSP_URL="ftp://admin:hunter2@cam/x", RECONNECT_DELAY="soon", LOG_FORMAT="journal"
    )
    assert result.returncode == 78
    lines = result.stderr.splitlines()
    assert lines == [
        "<3>config_invalid problem=\"RTSP_URL='ftp://admin:***@cam/x': expected rtsp://, rtsps://, http://, "
        "https://, a video file path, or 'demo'\"",
        "<3>config_invalid problem=\"RECONNECT_DELAY='soon': expected a number of seconds > 0\"",
    ]


def test_missing_url_exits_78(tmp_path: Path) -> None:
    result = vcam("run", cwd=tmp_path)
    assert result.returncode == 78
    assert "RTSP_URL is not set" in result.stderr and "Traceback" not in result.stderr


def test_unwritable_video_dir_exits_78(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = vcam("check", cwd=tmp_path, RTSP_URL="demo", VIDEO_DIR=str(blocker / "video"))
    assert result.returncode == 78
    assert f"VIDEO_DIR='{blocker / 'video'}': cannot create or write there (Not a directory)" in result.stderr
    assert "Traceback" not in result.stderr


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RTSP_URL=demo\nCAMERA_NAME=from_file\nSTALL_TIMEOUT=7\n")
    result = vcam("check", cwd=tmp_path, STALL_TIMEOUT="3")
    assert result.returncode == 0, result.stderr
    assert "CAMERA_NAME=from_file" in result.stdout and "STALL_TIMEOUT=3" in result.stdout

    other = tmp_path / "other.env"
    other.write_text("RTSP_URL=demo\nCAMERA_NAME=other\n")
    result = vcam("--env-file", str(other), "check", cwd=tmp_path)
    assert "CAMERA_NAME=other" in result.stdout

    missing = vcam("--env-file", str(tmp_path / "nope.env"), "check", cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_runner_arguments_default_to_run() -> None:
    parser = app.build_parser()
    assert parser.parse_args(app._default_to_run(["--demo"])).command == "run"
    args = parser.parse_args(app._default_to_run(["--env-file", "x.env", "--demo"]))
    assert (args.command, args.env_file, args.demo) == ("run", "x.env", True)
    assert parser.parse_args(app._default_to_run(["--env-file=x", "check"])).command == "check"


def test_demo_camera_runs_out_of_the_box(daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    proc = daemon("--demo", SNAPSHOT_INTERVAL="1")
    _, connected = proc.wait_for("camera_connected", 10)
    assert (connected["codec"], connected["width"], connected["height"]) == ("h264", 640, 360)
    assert wait_until(lambda: len(list((tmp_path / "video").rglob("*.jpg"))) >= 2, 5)
    started = time.monotonic()
    code, _ = proc.terminate()
    assert code == 0 and time.monotonic() - started < 3
    stopped = proc.events("vcam_stopped")[0][1]
    assert stopped["clean"] is True


@pytest.mark.parametrize("fmt", ["journal", "console"])
def test_log_formats_from_the_real_daemon(daemon: Callable[..., Daemon], fmt: str) -> None:
    proc = daemon("--demo", LOG_FORMAT=fmt)
    assert wait_until(lambda: "camera_connected" in proc.output(), 10)
    proc.terminate()
    first = proc.output().splitlines()[0]
    if fmt == "journal":
        assert first.startswith("<6>vcam_started pid=")
    else:
        assert " info    vcam_started pid=" in first
