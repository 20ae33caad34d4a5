"""The Dockerfile with a real container engine: podman + runc builds the image offline (base image
imported from a Debian tree under the name the Dockerfile's FROM uses, wheels from a wheelhouse)
and runs it against a loopback RTSP camera, the way `docker run` would."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import REPO, RtspServer, _require, decodes_cleanly, ffprobe, wait_until
from debian_tree import CACHE, Podman, base_tree, missing_tools, wheelhouse

pytestmark = [pytest.mark.slow, pytest.mark.deploy]

IMAGE_UID = 10001  # the Dockerfile's USER
ZONE = "Pacific/Chatham"


def base_image_name() -> str:
    match = re.search(r"^ARG BASE_IMAGE=(\S+)", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    assert match, "the Dockerfile has no ARG BASE_IMAGE=… default"
    return match[1]


@pytest.fixture(scope="module")
def podman() -> Podman:
    _require(os.geteuid() == 0, "podman with runc needs root here")
    missing = missing_tools()
    _require(not missing, f"not installed: {', '.join(missing)} (apt-get install podman runc debootstrap)")
    return Podman(CACHE / "podman")


@pytest.fixture(scope="module")
def image(podman: Podman) -> Iterator[str]:
    podman.import_base_image(base_image_name(), base_tree())
    wheels = wheelhouse(REPO / "requirements.txt")
    tag = f"localhost/vcam-test-{os.getpid()}"
    podman(
        *("build", "--format=docker", "--pull=never", "--network=none", "--tag", tag),
        *("--volume", f"{wheels}:/wheels:ro", "--build-arg", "PIP_NO_INDEX=1", "--build-arg", "PIP_FIND_LINKS=/wheels"),
        str(REPO),
        timeout=900,
    )
    yield tag
    podman("rmi", "--force", tag, check=False)


@pytest.fixture
def container(podman: Podman, image: str, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``container(RTSP_URL=…)``: ``docker run -d -v VOLUME:/app/video -e …`` on the host network
    (the camera is on 127.0.0.1); returns the container's name. The volume is tmp_path/video."""
    names: list[str] = []
    volume = tmp_path / "video"
    volume.mkdir()
    os.chown(volume, IMAGE_UID, IMAGE_UID)  # as `chown 10001 ./video` in the README

    def run(**settings: str) -> str:
        name = f"vcam-test-{os.getpid()}-{len(names)}"
        env = [arg for key, value in settings.items() for arg in ("--env", f"{key}={value}")]
        podman("run", "--detach", "--name", name, "--network=host", "--volume", f"{volume}:/app/video", *env, image)
        names.append(name)
        return name

    yield run
    for name in names:
        podman("rm", "--force", "--time=0", name, check=False)


def logs(podman: Podman, name: str) -> str:
    result = podman("logs", name, check=False)
    return result.stdout + result.stderr


def test_image_is_non_root_with_volume_healthcheck_and_exits_78_without_a_camera(podman: Podman, image: str) -> None:
    (inspected,) = json.loads(podman("image", "inspect", image).stdout)
    config = inspected["Config"]
    assert (config["User"], list(config["Volumes"]), config["StopSignal"]) == ("10001:10001", ["/app/video"], "SIGTERM")
    assert inspected["Healthcheck"]["Test"] == ["CMD", "python", "-m", "vcam", "health"]
    assert podman("run", "--rm", "--entrypoint", "id", image, "-u").stdout.strip() == str(IMAGE_UID)

    result = podman("run", "--rm", image, check=False, timeout=60)
    assert result.returncode == 78
    output = result.stdout + result.stderr
    assert "config_invalid" in output and "RTSP_URL is not set" in output and "Traceback" not in output


def test_records_into_the_volume_and_podman_stop_finishes_the_clip(
    podman: Podman,
    container: Callable[..., str],
    rtsp_server: Callable[..., RtspServer],
    make_clip: Callable[..., Path],
    tmp_path: Path,
) -> None:
    camera = rtsp_server(make_clip(onset=2))
    # `docker run -e TZ=…`: folders, file names and log times in the owner's zone (Chatham: +13:45
    # in December, +12:45 in winter, so no other zone could pass by chance)
    name = container(RTSP_URL=camera.url, CLIP_SECONDS="30", PRE_SECONDS="1", TZ=ZONE)
    assert wait_until(lambda: "clip_started" in logs(podman, name), 30, 0.5), logs(podman, name)
    time.sleep(3)
    began = time.monotonic()
    podman("stop", name, timeout=30)  # SIGTERM, then SIGKILL after Docker's default 10 s
    took = time.monotonic() - began
    assert took < 10
    assert podman("inspect", name, "--format", "{{.State.ExitCode}}").stdout.strip() == "0"
    output = logs(podman, name)
    assert "clip_saved" in output and "vcam_stopped clean=True" in output, output

    volume = tmp_path / "video"
    clips = list(volume.glob("camera/*/camera_*.mp4"))
    assert len(clips) == 1, output
    named = datetime.strptime(clips[0].stem.split("_", 1)[1], "%Y%m%d_%H%M%S").replace(tzinfo=ZoneInfo(ZONE))
    assert abs(datetime.now(UTC) - named) < timedelta(minutes=2), clips[0].name
    assert clips[0].parent.name == named.strftime("%Y-%m-%d")
    offset = datetime.now(ZoneInfo(ZONE)).isoformat()[-6:]
    assert re.search(rf"^\S+ \d\d:\d\d:\d\d{re.escape(offset)} info +vcam_started", output, re.MULTILINE), output
    assert clips[0].stat().st_uid == IMAGE_UID
    assert float(ffprobe(clips[0])["duration"]) >= 3 and decodes_cleanly(clips[0])
    assert list((volume / ".tmp").rglob("*.mp4")) == []
    print(f"podman stop took {took:.2f} s; clip {float(ffprobe(clips[0])['duration']):.1f} s")


def test_healthcheck_turns_unhealthy_when_the_daemon_freezes_never_for_a_camera_that_is_down(
    podman: Podman, container: Callable[..., str], rtsp_server: Callable[..., RtspServer]
) -> None:
    camera = rtsp_server()
    name = container(RTSP_URL=camera.url, HEALTH_TIMEOUT="3", STALL_TIMEOUT="2", RECONNECT_DELAY="0.5")

    def check() -> int:
        """Runs the image's own HEALTHCHECK command, as the engine does on its interval."""
        return podman("healthcheck", "run", name, check=False, timeout=30).returncode

    assert wait_until(lambda: "camera_connected" in logs(podman, name), 30, 0.5), logs(podman, name)
    assert check() == 0
    camera.freeze()  # a camera that is down: said in the log, and the container stays healthy
    assert wait_until(lambda: "camera_lost" in logs(podman, name), 20, 0.5), logs(podman, name)
    time.sleep(3 + 1)  # past HEALTH_TIMEOUT
    assert check() == 0
    camera.thaw()
    pid = podman("inspect", name, "--format", "{{.State.Pid}}").stdout.strip()
    os.kill(int(pid), signal.SIGSTOP)  # the daemon itself stops making progress
    frozen = time.monotonic()
    try:
        assert wait_until(lambda: check() == 1, 20, 0.5), logs(podman, name)
        print(f"unhealthy {time.monotonic() - frozen:.1f} s after the daemon froze (HEALTH_TIMEOUT=3)")
    finally:
        os.kill(int(pid), signal.SIGCONT)
    assert wait_until(lambda: check() == 0, 30, 0.5), logs(podman, name)
