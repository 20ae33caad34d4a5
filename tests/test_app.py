"""The command line as a user meets it: check, bad settings, the demo camera, --env-file."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, Daemon, wait_until

from vcam import __version__, app
from vcam.eventlog import EventLog


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
        "https://, a video file path, 'demo' or 'browser'\"",
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
    assert missing.returncode == 78 and "no such file" in missing.stderr  # start-up configuration: 78


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
    assert proc.process is not None
    names = {(task / "comm").read_text().strip() for task in Path(f"/proc/{proc.process.pid}/task").iterdir()}
    threads = ("camera-reader", "camera-worker", "camera-recorder", "camera-publisher", "storage")
    wanted = {name[:15] for name in threads}
    assert wanted <= names  # as top -H shows them
    started = time.monotonic()
    code, _ = proc.terminate()
    assert code == 0 and time.monotonic() - started < 1 + 0.5  # README: within about a second; 0.5 s for a busy machine
    stopped = proc.events("vcam_stopped")[0][1]
    assert stopped["clean"] is True
    ((_, hint),) = proc.events("demo_camera")  # a first run says what to do next
    assert "RTSP_URL" in hint["next"] and ".env" in hint["next"] and hint["stop"] == "Ctrl-C"


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


def test_env_file_that_is_not_utf8_exits_78_naming_file_line_and_byte(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"RTSP_URL=demo\nCAMERA_NAME=caf\xe9\n")
    result = vcam("run", cwd=tmp_path, LOG_FORMAT="journal")
    assert result.returncode == 78
    assert f"{tmp_path / '.env'} line 2, byte 16: 0xe9 is not UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_reports_every_problem_at_once_and_creates_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = vcam(
        "check",
        cwd=tmp_path,
        LOG_FORMAT="journal",
        RTSP_URL="rtsp://admin:hunter2@cam/x",
        STALL_TIMEOUT="soon",
        VIDEO_DIR=str(tmp_path / "new" / "video"),
        TEMP_DIR=str(blocker / "tmp"),
    )
    assert result.returncode == 78
    assert "STALL_TIMEOUT='soon'" in result.stderr
    assert f"TEMP_DIR='{blocker / 'tmp'}': cannot create or write there (Not a directory)" in result.stderr
    assert "VIDEO_DIR" not in result.stderr  # it can be made: fine, and not made by check
    assert not (tmp_path / "new").exists() and "hunter2" not in result.stderr


def test_check_warns_about_a_misspelt_setting_in_the_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RTSP_URL=demo\nCLIP_SECOND=20\nRTSP_ULR=rtsp://cam/x\n")
    result = vcam("check", cwd=tmp_path, LOG_FORMAT="journal")
    assert result.returncode == 0, result.stderr
    assert "CLIP_SECOND is not a vcam setting; did you mean CLIP_SECONDS?" in result.stderr
    assert "RTSP_ULR is not a vcam setting; did you mean RTSP_URL?" in result.stderr


def test_listing_runs_whatever_is_wrong_with_the_camera_settings(tmp_path: Path) -> None:
    video = tmp_path / "video"
    EventLog(video / "events.sqlite3").close()
    result = vcam("events", cwd=tmp_path, VIDEO_DIR=str(video), RTSP_URL="ftp://x", STALL_TIMEOUT="soon")
    assert result.returncode == 0, result.stderr
    bad_video = vcam("clips", cwd=tmp_path, VIDEO_DIR=str(video), EVENTS_DB="")
    assert bad_video.returncode == 0, bad_video.stderr


def test_probe_runs_whatever_is_wrong_with_unrelated_settings(tmp_path: Path) -> None:
    result = vcam("probe", "demo", cwd=tmp_path, MOTION_MIN_AREA="lots", CLIP_SECONDS="-3")
    assert result.returncode == 0, result.stderr
    assert "codec=h264" in result.stdout


def test_the_vcam_command_uses_its_own_environment_from_any_folder(tmp_path: Path) -> None:
    """bin/vcam runs the project's Python (never PATH's python3) and reads its own .env."""
    env = {"PATH": "/usr/bin:/bin", "VCAM_PYTHON": sys.executable}  # /usr/bin/python3 has no cv2
    command = [str(REPO / "bin" / "vcam")]
    version = subprocess.run([*command, "--version"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"vcam {__version__}"
    helped = subprocess.run([*command, "scan", "--help"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert helped.returncode == 0 and "Find motion events in a video file" in helped.stdout


def test_every_command_says_what_it_does() -> None:
    (commands,) = [a for a in app.build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    for name in app.COMMANDS:
        description = commands.choices[name].description
        assert description and len(description) > 20, name


def test_a_second_daemon_for_the_same_camera_exits_78_and_takes_nothing(
    daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    first = daemon("--demo", SNAPSHOT_INTERVAL="0")
    first.wait_for("camera_connected", 10)
    second = daemon("--demo", SNAPSHOT_INTERVAL="0")
    assert second.process is not None and second.process.wait(10) == 78
    ((_, taken),) = second.events("camera_taken")
    assert first.process is not None and f"pid {first.process.pid}" in taken["problem"]
    assert not second.events("clip_recovered") and not second.events("vcam_started")
    other = daemon("--demo", SNAPSHOT_INTERVAL="0", CAMERA_NAME="other")  # another camera, same folders: fine
    other.wait_for("camera_connected", 10)
    expected = sorted(f"health.{d.process.pid}.json" for d in (first, other) if d.process)

    def health() -> list[str]:
        return sorted(p.name for p in (tmp_path / "video" / ".tmp").glob("health.*.json"))

    assert wait_until(lambda: health() == expected, 5), health()
    assert first.terminate()[0] == 0 and other.terminate()[0] == 0


def test_an_unusable_event_log_is_said_once_and_recording_goes_on(
    daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    not_a_database = tmp_path / "events-dir"
    not_a_database.mkdir()  # a folder where the database file should be
    proc = daemon("--demo", EVENTS_DB=str(not_a_database), SNAPSHOT_INTERVAL="1")
    _, unavailable = proc.wait_for("eventlog_unavailable", 10)
    assert unavailable["path"] == str(not_a_database) and unavailable["error"]
    proc.wait_for("camera_connected", 10)
    assert wait_until(lambda: list((tmp_path / "video").rglob("*.jpg")), 5)
    assert proc.terminate()[0] == 0 and "Traceback" not in proc.output()


@pytest.mark.parametrize("command", ["health", "check", "events", "clips"])
def test_light_commands_load_neither_opencv_nor_pyav(command: str, tmp_path: Path) -> None:
    """`vcam health` runs every 30 s as Docker's HEALTHCHECK: it must not pay for OpenCV and PyAV."""
    probe = (
        "import sys\nfrom vcam import app\ntry:\n    app.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('loaded:', sorted(m for m in ('cv2', 'av', 'numpy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, command],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "RTSP_URL": "demo", "VIDEO_DIR": str(tmp_path / "v")},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "loaded: []" in result.stdout, result.stdout + result.stderr


def test_a_cameras_file_beside_env_is_read_with_its_folders_beside_it(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=debug\n")
    (tmp_path / "vcam.toml").write_text(
        'video_dir = "recordings"\n[[cameras]]\nname = "front"\nurl = "demo"\n'
        '[[cameras]]\nname = "yard"\nurl = "rtsp://admin:hunter2@cam/s"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = vcam("--env-file", str(tmp_path / ".env"), "check", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"video_dir={tmp_path / 'recordings'}" in lines and "LOG_LEVEL=debug" in lines
    assert "cameras[front].url=demo" in lines and "cameras[yard].url=rtsp://admin:***@cam/s" in lines
    assert "hunter2" not in result.stdout + result.stderr

    (tmp_path / "other.toml").write_text('[[cameras]]\nname = "side"\nurl = "demo"\n')
    named = vcam("--config", str(tmp_path / "other.toml"), "check", cwd=tmp_path)
    assert named.returncode == 0 and "cameras[side].url=demo" in named.stdout.splitlines()
    by_setting = vcam("check", cwd=elsewhere, CONFIG_FILE=str(tmp_path / "other.toml"))
    assert "cameras[side].url=demo" in by_setting.stdout.splitlines()


def test_a_broken_cameras_file_exits_78_saying_where(tmp_path: Path) -> None:
    (tmp_path / "vcam.toml").write_text('[[cameras]]\nname = "front"\nurl = demo\n')
    result = vcam("check", cwd=tmp_path, LOG_FORMAT="journal")
    assert result.returncode == 78 and "Traceback" not in result.stderr
    assert f"{tmp_path / 'vcam.toml'}: not valid TOML: Invalid value (at line 3, column 7)" in result.stderr
    missing = vcam("--config", str(tmp_path / "nope.toml"), "check", cwd=tmp_path, LOG_FORMAT="journal")
    assert missing.returncode == 78 and "--config='" in missing.stderr and "no such file" in missing.stderr
    (tmp_path / "vcam.toml").write_text('[[cameras]]\nname = "front"\nurl = "demo"\nmotion_min_area = "lots"\n')
    bad = vcam("check", cwd=tmp_path, LOG_FORMAT="journal")
    assert bad.returncode == 78
    assert "cameras[front].motion_min_area='lots': expected a number above 0 and at most 100" in bad.stderr
