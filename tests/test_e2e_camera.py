"""The real daemon against real cameras on loopback: gst-rtsp-server, HTTP MJPEG, a silent socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import cv2
import pytest
from conftest import REPO, Daemon, RtspServer, free_port, wait_until

pytestmark = pytest.mark.slow


def snapshots(video_dir: Path) -> list[Path]:
    return sorted(video_dir.rglob("snapshots/*/*.jpg"))


def test_frames_flow_snapshots_appear_and_sigterm_exits_fast(
    rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    server = rtsp_server()
    proc = daemon(RTSP_URL=server.url, SNAPSHOT_INTERVAL="1", CAMERA_NAME="porch")
    _, connected = proc.wait_for("camera_connected", 15)
    assert (connected["codec"], connected["width"], connected["height"]) == ("h264", 320, 240)
    video = tmp_path / "video"
    assert wait_until(lambda: len(snapshots(video)) >= 3, 10), proc.output()
    for path in snapshots(video):
        assert path.parent.parent.name == "snapshots" and path.parts[-4] == "porch"
        picture = cv2.imread(str(path))
        assert picture is not None
        assert picture.shape == (240, 320, 3)
    code, took = proc.terminate()
    assert code == 0
    assert took < 10
    assert "Traceback" not in proc.output()


def test_reconnects_after_the_camera_restarts(
    rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    server = rtsp_server()
    proc = daemon(RTSP_URL=server.url, RECONNECT_DELAY="1", SNAPSHOT_INTERVAL="1")
    proc.wait_for("camera_connected", 15)
    killed = time.monotonic()
    server.kill()
    _, lost = proc.wait_for("camera_lost", 10, since=killed)
    assert lost["reason"] in ("ended", "stalled", "unreachable")
    time.sleep(4)  # the camera stays down a while: retries see a closed port
    proc.wait_for("camera_unavailable", 1, since=killed)
    server.start()  # same port, like a camera that rebooted
    returned = time.monotonic()
    at, connected = proc.wait_for("camera_connected", 10, since=returned)
    reconnect_s = at - returned
    print(f"reconnect after return: {reconnect_s:.2f} s (log: first_frame_s={connected['first_frame_s']})")
    assert reconnect_s <= 1 + 2  # RECONNECT_DELAY + 2 s
    assert connected["failures"] >= 1
    count = len(snapshots(tmp_path / "video"))
    assert wait_until(lambda: len(snapshots(tmp_path / "video")) >= count + 2, 5)
    assert proc.terminate()[0] == 0


def test_frozen_camera_is_detected_as_a_stall_and_recovered(
    rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon]
) -> None:
    server = rtsp_server()
    proc = daemon(RTSP_URL=server.url, STALL_TIMEOUT="4", RECONNECT_DELAY="1")
    proc.wait_for("camera_connected", 15)
    frozen = time.monotonic()
    server.freeze()  # SIGSTOP: the TCP connection stays open, no data flows
    at, lost = proc.wait_for("camera_lost", 4 + 2 + 1, since=frozen)
    detect_s = at - frozen
    print(f"stall detected after {detect_s:.2f} s (STALL_TIMEOUT=4)")
    assert lost["reason"] == "stalled"
    assert detect_s <= 4 + 1  # README: 4.0 s; a read gives up within half a STALL_TIMEOUT more
    time.sleep(2)
    server.thaw()
    thawed = time.monotonic()
    at, _ = proc.wait_for("camera_connected", 4 + 1 + 5, since=frozen)
    print(f"frames again {at - thawed:.2f} s after SIGCONT")
    assert at - thawed <= 1.1 + 2  # README: 1.1 s; the retry may have just begun its 1 s wait and 1 s open
    assert proc.terminate()[0] == 0


def test_sigterm_while_the_camera_is_frozen_still_exits_in_time(
    rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon]
) -> None:
    server = rtsp_server()
    proc = daemon(RTSP_URL=server.url, STALL_TIMEOUT="20")
    proc.wait_for("camera_connected", 15)
    server.freeze()
    time.sleep(1)  # the reader is now blocked in a read
    code, took = proc.terminate()
    print(f"stopped in {took:.2f} s with the reader blocked")
    assert code == 0
    assert took < 1.0 + 1  # README: 1.0 s (the reader's grace); 1 s for a busy machine


def test_closed_port_is_retried_quietly_and_forever(daemon: Callable[..., Daemon]) -> None:
    url = f"rtsp://127.0.0.1:{free_port()}/stream"
    proc = daemon(RTSP_URL=url, RECONNECT_DELAY="0.2", RECONNECT_MAX_DELAY="0.4")
    time.sleep(6)  # about 20 attempts
    failures = proc.events("camera_unavailable")
    assert failures, proc.output()
    assert failures[0][1]["reason"] == "refused"
    assert "connection refused" in failures[0][1]["error"]
    assert [e["failures"] for _, e in failures] == [1, 2, 4, 8, 16][: len(failures)]
    assert proc.process is not None and proc.process.poll() is None
    code, took = proc.terminate()
    assert code == 0 and took < 1 + 0.5  # README: within about a second


def test_socket_that_never_answers_times_out_and_is_retried(silent_server: str, daemon: Callable[..., Daemon]) -> None:
    proc = daemon(RTSP_URL=silent_server, STALL_TIMEOUT="2", RECONNECT_DELAY="0.5")
    started = time.monotonic()
    at, failure = proc.wait_for("camera_unavailable", 6)
    assert failure["reason"] == "no_answer"
    assert at - started < 2 + 3
    proc.wait_for("camera_unavailable", 10, count=2)
    code, took = proc.terminate()
    assert code == 0 and took < 10


def test_wrong_password_is_a_clear_masked_error(
    rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon]
) -> None:
    server = rtsp_server(user="admin", password="s3cret-pass")
    wrong = server.url.replace("s3cret-pass", "hunter2-wrong")
    proc = daemon(RTSP_URL=wrong, RECONNECT_DELAY="0.5")
    _, failure = proc.wait_for("camera_unavailable", 10)
    assert failure["reason"] == "unauthorized"
    assert "password" in failure["error"]
    proc.wait_for("camera_unavailable", 5, count=2)
    assert proc.terminate()[0] == 0
    output = proc.output()
    assert "hunter2-wrong" not in output and "s3cret-pass" not in output
    assert "rtsp://admin:***@127.0.0.1" in output

    right = daemon(RTSP_URL=server.url)
    right.wait_for("camera_connected", 15)
    assert right.terminate()[0] == 0
    assert "s3cret-pass" not in right.output()


def test_http_mjpeg_camera(mjpeg_server: str, daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    proc = daemon(RTSP_URL=mjpeg_server, SNAPSHOT_INTERVAL="1")
    _, connected = proc.wait_for("camera_connected", 10)
    assert connected["codec"] == "mjpeg"
    assert wait_until(lambda: len(snapshots(tmp_path / "video")) >= 2, 5)
    assert proc.terminate()[0] == 0


def test_no_fd_or_thread_growth_over_20_reconnects(
    make_clip: Callable[..., Path], rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon]
) -> None:
    server = rtsp_server(clip=make_clip(seconds=0.5))  # the stream ends every half second: a reconnect each time
    proc = daemon(RTSP_URL=server.url, RECONNECT_DELAY="0.1", RECONNECT_MAX_DELAY="0.2", SNAPSHOT_INTERVAL="1")
    assert proc.process is not None
    pid = proc.process.pid

    def counts() -> tuple[int, int]:
        return len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))

    proc.wait_for("camera_connected", 20, count=3)
    time.sleep(0.3)
    before = counts()
    proc.wait_for("camera_connected", 120, count=23)
    time.sleep(0.3)
    after = counts()
    print(f"fds/threads after 3 connections: {before}, after 23: {after}")
    assert after[0] <= before[0] + 2  # a connection may be open at either moment
    assert after[1] <= before[1] + 2
    assert proc.terminate()[0] == 0


def test_probe_describes_a_camera_or_says_clearly_why_not(rtsp_server: Callable[..., RtspServer]) -> None:
    server = rtsp_server(user="admin", password="s3cret-pass")
    ok = subprocess.run(
        [sys.executable, "-m", "vcam", "probe", server.url], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert ok.returncode == 0, ok.stderr
    assert "codec=h264" in ok.stdout and "size=320x240" in ok.stdout and "fps=10" in ok.stdout
    assert "url=rtsp://admin:***@127.0.0.1" in ok.stdout and "s3cret-pass" not in ok.stdout

    bad = subprocess.run(
        [sys.executable, "-m", "vcam", "probe", server.url.replace("s3cret-pass", "nope")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 1
    assert "unauthorized" in bad.stderr and "nope" not in bad.stderr and "Traceback" not in bad.stderr


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_camera_that_never_sends_a_keyframe_is_a_stall_not_a_busy_loop(
    make_clip: Callable[..., Path],
    rtsp_server: Callable[..., RtspServer],
    daemon: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    """Before: 124 % CPU, and the supervisor replaced the wedged pipeline again and again, leaking
    a thread and a socket each time."""
    no_keyframes = tmp_path / "no_keyframes.mp4"
    subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(make_clip(seconds=60))),
            *("-c", "copy", "-bsf:v", "filter_units=remove_types=5", str(no_keyframes)),  # drop every IDR picture
        ],
        check=True,
        timeout=60,
    )
    server = rtsp_server(clip=no_keyframes)
    proc = daemon(RTSP_URL=server.url, STALL_TIMEOUT="2", RECONNECT_DELAY="1", RECONNECT_MAX_DELAY="1")
    started = time.monotonic()
    at, unavailable = proc.wait_for("camera_unavailable", 10)
    print(f"no keyframe: {unavailable['error']} after {at - started:.1f} s")
    assert unavailable["reason"] == "stalled" and "keyframe" in unavailable["error"]
    assert proc.process is not None
    pid = proc.process.pid

    def counts() -> tuple[int, int]:
        return len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))

    def most(seconds: float) -> tuple[int, int]:
        """The most fds and threads seen over a while: attempts open and close a connection."""
        seen = [counts()]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.2)
            seen.append(counts())
        return max(f for f, _ in seen), max(t for _, t in seen)

    proc.wait_for("camera_unavailable", 15, count=2)
    cpu_before, t_before = cpu_seconds(pid), time.monotonic()
    before = most(4)
    after = most(4)  # a dozen attempts in all
    cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - t_before)
    print(f"no keyframe: CPU {100 * cpu:.0f} %, most fds/threads {before} then {after}")
    assert cpu < 0.3  # it waits for pictures; it does not spin
    assert after <= before
    assert not proc.events("pipeline_restart") and not proc.events("camera_connected")
    assert proc.terminate()[0] == 0


def probe(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vcam", "probe", url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "STALL_TIMEOUT": "3"},
    )


def test_a_password_with_reserved_characters_works_percent_encoded_and_never_shows(
    rtsp_server: Callable[..., RtspServer],
) -> None:
    password = "p@ss/w#:rd"
    server = rtsp_server(user="admin", password=password)
    url = f"rtsp://admin:{quote(password, safe='')}@127.0.0.1:{server.port}/stream"
    ok = probe(url)
    assert ok.returncode == 0, ok.stderr
    assert f"url=rtsp://admin:***@127.0.0.1:{server.port}/stream" in ok.stdout
    written_raw = probe(f"rtsp://admin:{password}@127.0.0.1:{server.port}/stream")  # as FFmpeg could never read it
    assert written_raw.returncode == 78 and "percent-encoded" in written_raw.stderr
    for result in (ok, written_raw):
        shown = result.stdout + result.stderr
        assert "ss/w" not in shown and "p%40ss" not in shown and "w#:rd" not in shown


def test_camera_errors_say_what_to_do(rtsp_server: Callable[..., RtspServer], tmp_path: Path) -> None:
    no_credentials = rtsp_server(user="admin", password="s3cret-pass").url.replace("admin:s3cret-pass@", "")
    needs = probe(no_credentials)
    assert needs.returncode == 1 and "unauthorized: the camera needs a user name and password" in needs.stderr

    page = tmp_path / "index.html"
    page.write_text("<!doctype html><html><body>Camera login</body></html>")
    web = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        answer = probe(f"http://127.0.0.1:{web.server_address[1]}/index.html")
    finally:
        web.shutdown()
        web.server_close()
    assert answer.returncode == 1 and "returned a web page, not a video stream" in answer.stderr


def test_a_garbage_answer_keeps_one_stable_reason(garbage_server: str, daemon: Callable[..., Daemon]) -> None:
    """A server that answers with noise: one reason and one message on every attempt, so the log
    says it once and then only at the 2nd, 4th, 8th… failure."""
    for url in (garbage_server, garbage_server.replace("rtsp://", "http://")):
        proc = daemon(RTSP_URL=url, RECONNECT_DELAY="0.1", RECONNECT_MAX_DELAY="0.1", STALL_TIMEOUT="3")
        proc.wait_for("camera_unavailable", 20, count=4)  # failures 1, 2, 4, 8
        assert proc.terminate()[0] == 0
        said = {(e["reason"], e["error"]) for _, e in proc.events("camera_unavailable")}
        print(f"garbage over {url.split(':')[0]}: {said}")
        assert said == {("bad_stream", "the camera's answer is not a video stream that can be read")}
        assert "Traceback" not in proc.output()


def test_a_reader_that_fell_behind_decodes_keyframes_only_until_it_caught_up(
    make_clip: Callable[..., Path], rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon]
) -> None:
    """The daemon frozen for 4 s (as a Pi under load would be) while the camera keeps sending:
    it then runs more than 2 s behind the camera, decodes keyframes only, and catches up."""
    server = rtsp_server(clip=make_clip(seconds=120, size="640x360", fps=25, gop_s=0.5))
    proc = daemon(RTSP_URL=server.url, STALL_TIMEOUT="30")
    proc.wait_for("camera_connected", 15)
    time.sleep(2)
    assert proc.process is not None
    proc.process.send_signal(signal.SIGSTOP)
    time.sleep(4)
    proc.process.send_signal(signal.SIGCONT)
    resumed = time.monotonic()
    _, behind = proc.wait_for("decoding_behind", 10, since=resumed - 5)
    _, caught = proc.wait_for("decoding_caught_up", 20, since=resumed - 5)
    took = datetime.fromisoformat(caught["timestamp"]) - datetime.fromisoformat(behind["timestamp"])
    print(f"keyframes only for {took.total_seconds():.2f} s after a 4 s freeze")
    assert behind["keyframes_only"] is True and took.total_seconds() >= 0
    assert not proc.events("camera_lost")  # caught up, not reconnected
    assert proc.terminate()[0] == 0
