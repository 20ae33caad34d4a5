"""The service under a real systemd: a Debian tree booted with systemd-nspawn, vcam installed in it
by deploy/install.sh the way a Pi owner does, driven with systemctl and read with journalctl."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, RtspServer, _require, decodes_cleanly, ffprobe, wait_until
from debian_tree import CACHE, BootedSystem, base_tree, copy_tree, missing_tools, wheelhouse

pytestmark = [pytest.mark.slow, pytest.mark.deploy]

UNIT = "cameramonitor.service"
APP = Path("opt/camera_monitor")  # inside the tree
DROP_IN = Path("etc/systemd/system/cameramonitor.service.d")


@pytest.fixture(scope="module")
def system() -> Iterator[BootedSystem]:
    """One booted Debian for the module, with vcam installed by install.sh (from a wheelhouse:
    the container has no index to reach, like a Pi behind a firewall with a local mirror)."""
    _require(os.geteuid() == 0, "systemd-nspawn needs root")
    missing = missing_tools()
    _require(not missing, f"not installed: {', '.join(missing)} (apt-get install debootstrap systemd-container)")
    wheels = wheelhouse(REPO / "requirements.txt")
    scratch = CACHE / f"boot-{os.getpid()}"
    root = copy_tree(base_tree(), scratch / "root")
    booted = BootedSystem(root, {REPO: "/src", wheels: "/wheels"})
    try:
        booted.boot()
        result = booted.run(
            "bash", "/src/deploy/install.sh", env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/wheels"}, timeout=600
        )
        assert "creating system user pi" in result.stdout and "Installed. Next:" in result.stdout, result.stdout
        assert booted.run("systemctl", "is-enabled", UNIT).stdout.strip() == "enabled"
        yield booted
    finally:
        booted.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def service(system: BootedSystem) -> Iterator[Callable[..., str]]:
    """``service(RTSP_URL=…, …)``: the installed .env with these settings, the unit stopped and
    reset; returns a journal cursor from before the change. Restores .env and drops drop-ins after."""
    env_file = system.root / APP / ".env"
    original = env_file.read_text()

    def configure(**settings: str) -> str:
        reset(system)
        text = original
        for name, value in settings.items():
            text, found = re.subn(rf"^{name}=.*$", f"{name}={value}", text, flags=re.MULTILINE)
            if not found:
                text += f"\n{name}={value}\n"
        env_file.write_text(text)  # rewritten in place: owner root:pi and mode 640 stay
        return system.journal_cursor()

    yield configure
    reset(system)
    env_file.write_text(original)


def reset(system: BootedSystem) -> None:
    system.run("systemctl", "stop", UNIT, check=False)
    shutil.rmtree(system.root / DROP_IN, ignore_errors=True)
    system.run("systemctl", "daemon-reload")
    system.run("systemctl", "reset-failed", UNIT, check=False)
    video = system.root / APP / "video"
    owner = video.stat()  # install.sh gave it to the service user
    shutil.rmtree(video)
    video.mkdir()
    os.chown(video, owner.st_uid, owner.st_gid)


def messages(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [r for r in records if str(r.get("MESSAGE", "")).startswith(event + " ")]


def wait_for_message(system: BootedSystem, cursor: str, event: str, timeout: float) -> dict[str, Any]:
    found = wait_until(lambda: messages(system.journal(UNIT, cursor), event), timeout, interval=0.5)
    if not found:
        tail = "\n".join(str(r.get("MESSAGE")) for r in system.journal(UNIT, cursor)[-25:])
        raise AssertionError(f"no {event!r} in the journal within {timeout} s:\n{tail}")
    first: dict[str, Any] = found[0]
    return first


def test_started_service_is_ready_with_status_and_logs_at_journal_priorities(
    system: BootedSystem, service: Callable[..., str], rtsp_server: Callable[..., RtspServer]
) -> None:
    camera = rtsp_server(user="admin", password="s3cret-pass")
    cursor = service(RTSP_URL=camera.url)
    # Type=notify: `systemctl start` returns only once the daemon has sent READY=1
    started = system.run("systemctl", "start", UNIT, check=False, timeout=90)
    assert started.returncode == 0, started.stderr
    state = system.show(UNIT, "ActiveState", "SubState", "MainPID")
    assert (state["ActiveState"], state["SubState"]) == ("active", "running")
    assert wait_until(lambda: "camera streaming" in system.show(UNIT, "StatusText")["StatusText"], 20, 0.5)
    assert system.run("stat", "-c", "%U", f"/proc/{state['MainPID']}").stdout.strip() == "pi"

    connected = wait_for_message(system, cursor, "camera_connected", 20)
    assert connected["PRIORITY"] == "6"  # info
    assert connected["SYSLOG_IDENTIFIER"] == "vcam"
    assert "=" in connected["MESSAGE"] and "\x1b" not in connected["MESSAGE"]  # key=value, no colour codes

    camera.kill()  # the camera goes away: a warning, then reconnect attempts
    lost = wait_for_message(system, cursor, "camera_lost", 30)
    assert lost["PRIORITY"] == "4"  # warning
    records = system.journal(UNIT, cursor)
    assert records and not [r for r in records if "s3cret-pass" in str(r.get("MESSAGE"))]
    assert any("rtsp://admin:***@127.0.0.1" in str(r.get("MESSAGE")) for r in records)


def test_systemctl_stop_finishes_the_open_clip(
    system: BootedSystem,
    service: Callable[..., str],
    rtsp_server: Callable[..., RtspServer],
    make_clip: Callable[..., Path],
) -> None:
    camera = rtsp_server(make_clip(onset=2))
    cursor = service(RTSP_URL=camera.url, CLIP_SECONDS="30", PRE_SECONDS="1")
    system.run("systemctl", "start", UNIT, timeout=90)
    wait_for_message(system, cursor, "clip_started", 30)
    time.sleep(3)
    began = time.monotonic()
    system.run("systemctl", "stop", UNIT, timeout=60)
    took = time.monotonic() - began
    assert took < 10
    saved = wait_for_message(system, cursor, "clip_saved", 5)
    state = system.show(UNIT, "ActiveState", "Result", "ExecMainStatus")
    assert state == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}
    path = re.search(r"path=/(\S+\.mp4)", saved["MESSAGE"])
    assert path, saved["MESSAGE"]
    clip = system.root / path[1]
    assert clip.is_file() and clip.stat().st_uid != 0  # written by the service user
    assert float(ffprobe(clip)["duration"]) >= 3 and decodes_cleanly(clip)
    assert list((system.root / APP / "video/.tmp").rglob("*.mp4")) == []
    print(f"systemctl stop took {took:.2f} s; clip {float(ffprobe(clip)['duration']):.1f} s")
    # the owner's `vcam clips`, from any folder: the installed command finds its venv and .env
    listed = system.run("sh", "-c", "cd / && vcam clips")
    assert clip.name in listed.stdout, listed.stdout + listed.stderr


def test_watchdog_restarts_a_wedged_daemon_and_never_for_a_camera_that_is_down(
    system: BootedSystem, service: Callable[..., str], rtsp_server: Callable[..., RtspServer]
) -> None:
    camera = rtsp_server()
    cursor = service(RTSP_URL=camera.url, STALL_TIMEOUT="2", RECONNECT_DELAY="0.5", RECONNECT_MAX_DELAY="1")
    (system.root / DROP_IN).mkdir(parents=True)
    (system.root / DROP_IN / "test-watchdog.conf").write_text("[Service]\nWatchdogSec=3\nRestartSec=1\n")
    system.run("systemctl", "daemon-reload")
    system.run("systemctl", "start", UNIT, timeout=90)
    wait_for_message(system, cursor, "camera_connected", 20)
    first_pid = system.show(UNIT, "MainPID")["MainPID"]

    # a camera that is down is said, and the daemon goes on: its other cameras keep recording
    camera.freeze()
    assert wait_until(lambda: "0/1 cameras streaming" in system.show(UNIT, "StatusText")["StatusText"], 20, 0.5)
    time.sleep(3 + 2)  # past WatchdogSec
    assert system.show(UNIT, "NRestarts")["NRestarts"] == "0"
    camera.thaw()
    assert wait_until(lambda: "1/1 cameras streaming" in system.show(UNIT, "StatusText")["StatusText"], 30, 0.5)

    # the daemon itself stops making progress: systemd kills it and starts it again
    system.run("sh", "-c", f"kill -STOP {first_pid}")  # minbase has no /bin/kill: the shell's
    frozen = time.monotonic()
    restarted = wait_until(lambda: int(system.show(UNIT, "NRestarts")["NRestarts"]) >= 1, 30, 0.5)
    assert restarted, system.show(UNIT, "ActiveState", "Result", "NRestarts")
    took = time.monotonic() - frozen
    print(f"watchdog restart {took:.1f} s after the daemon froze")
    assert took <= 4 + 2  # README: about 4 s (WatchdogSec 3 + RestartSec 1); 2 s for polling and a busy machine
    records = system.journal(UNIT, cursor)
    assert [r for r in records if "Watchdog timeout" in str(r.get("MESSAGE"))], [r.get("MESSAGE") for r in records]
    assert wait_until(lambda: "1/1 cameras streaming" in system.show(UNIT, "StatusText")["StatusText"], 60, 0.5)
    state = system.show(UNIT, "ActiveState", "MainPID")
    assert state["ActiveState"] == "active" and state["MainPID"] != first_pid


def test_a_template_instance_records_the_cameras_of_its_own_file(
    system: BootedSystem, service: Callable[..., str], rtsp_server: Callable[..., RtspServer]
) -> None:
    """vcam@front.service runs the cameras of /opt/camera_monitor/front.toml, as the same hardened
    service (for cameras split across processes or machines)."""
    camera = rtsp_server()
    cursor = service()  # the main unit stopped, the video folder empty
    instance = "vcam@front.service"
    cameras = system.root / APP / "front.toml"
    cameras.write_text(
        f'[defaults]\nclip_seconds = 3\npre_seconds = 1\n\n[[cameras]]\nname = "front"\nurl = "{camera.url}"\n'
    )
    try:
        started = system.run("systemctl", "start", instance, check=False, timeout=90)
        assert started.returncode == 0, started.stderr

        def status() -> str:
            return system.show(instance, "StatusText")["StatusText"]

        assert wait_until(lambda: "1/1 cameras streaming; front streaming" in status(), 20, 0.5), status()
        pid = system.show(instance, "MainPID")["MainPID"]
        assert system.run("stat", "-c", "%U", f"/proc/{pid}").stdout.strip() == "pi"
        found = wait_until(lambda: messages(system.journal(instance, cursor), "clip_saved"), 40, 0.5)
        assert found, [r.get("MESSAGE") for r in system.journal(instance, cursor)[-20:]]
        assert list((system.root / APP / "video" / "front").rglob("*.mp4"))
    finally:
        system.run("systemctl", "stop", instance, check=False)
        cameras.unlink()


def test_config_error_exits_78_and_is_not_restarted(system: BootedSystem, service: Callable[..., str]) -> None:
    cursor = service(RTSP_URL="ftp://camera/stream")
    started = system.run("systemctl", "start", UNIT, check=False, timeout=90)
    assert started.returncode != 0
    time.sleep(5 + 2)  # past RestartSec=5: a restart would have happened by now
    state = system.show(UNIT, "ActiveState", "ExecMainStatus", "NRestarts")
    assert state == {"ActiveState": "failed", "ExecMainStatus": "78", "NRestarts": "0"}
    problem = wait_for_message(system, cursor, "config_invalid", 5)
    assert problem["PRIORITY"] == "3" and "RTSP_URL" in problem["MESSAGE"]


def test_uninstall_stops_the_service_and_keeps_recordings_and_settings(
    system: BootedSystem, service: Callable[..., str]
) -> None:
    """Last in this module: it takes the service away."""
    cursor = service(RTSP_URL="demo", CLIP_SECONDS="30")
    system.run("systemctl", "start", UNIT, timeout=90)
    wait_for_message(system, cursor, "clip_started", 30)
    result = system.run("bash", "/src/deploy/uninstall.sh", timeout=60)
    assert "kept /opt/camera_monitor/.env and the recordings" in result.stdout
    assert system.run("systemctl", "is-active", UNIT, check=False).stdout.strip() in ("inactive", "unknown")
    assert not (system.root / "etc/systemd/system" / UNIT).exists()
    assert not (system.root / APP / "vcam").exists() and not (system.root / APP / "venv").exists()
    assert (system.root / APP / ".env").is_file()
    wait_for_message(system, cursor, "clip_saved", 5)  # stopped by uninstall: the open clip was finished
    assert list((system.root / APP / "video").glob("camera/*/camera_*.mp4"))
