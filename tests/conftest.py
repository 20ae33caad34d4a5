"""Real parts for the tests: an RTSP server (gst-rtsp-server), an HTTP MJPEG server, a silent
socket, H.264 clips made with ffmpeg, and the daemon itself run as a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

REPO = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, which has python3-gi and GStreamer
RTSP_SERVER = Path(__file__).with_name("rtsp_server.py")
MEDIA = REPO.parent / "shared" / "media"


def _require(condition: bool, why: str) -> None:
    """Skip when a real part is missing, except in CI (VCAM_REQUIRE_E2E=1), where it is a failure."""
    if condition:
        return
    if os.environ.get("VCAM_REQUIRE_E2E") == "1":
        pytest.fail(f"{why} (VCAM_REQUIRE_E2E=1)")
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return value
        time.sleep(interval)


# --- clips -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def make_clip(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """H.264 MP4s made with ffmpeg's test pattern (it moves), cached for the session."""
    _require(shutil.which("ffmpeg") is not None, "ffmpeg is not installed")
    folder = tmp_path_factory.mktemp("clips")
    made: dict[tuple[float, str, int, float, float | None, str], Path] = {}

    def make(
        seconds: float = 60,
        size: str = "320x240",
        fps: int = 10,
        gop_s: float = 1.0,
        onset: float | None = None,
        *,
        codec: str = "h264",
    ) -> Path:
        """``testsrc2`` moves all the time; with ``onset``, a still noisy grey scene where a red
        40 px square crosses from ``onset`` for 6 s. ``codec`` h264 or h265."""
        key = (seconds, size, fps, gop_s, onset, codec)
        if key not in made:
            path = folder / f"clip_{len(made)}_{seconds:g}s_{size}_{fps}fps_{codec}.mp4"
            encoder = ["libx264"] if codec == "h264" else ["libx265", "-x265-params", "log-level=error"]
            if onset is None:
                source = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}"]
                graph: list[str] = []
            else:
                source = [
                    *("-f", "lavfi", "-i", f"color=c=0x808080:s={size}:r={fps}"),
                    *("-f", "lavfi", "-i", f"color=c=red:s=40x40:r={fps}"),
                ]
                moving = f"if(between(t,{onset},{onset + 6}),(t-{onset})*45,-100)"
                graph = ["-filter_complex", f"[0]noise=alls=8:allf=t[bg];[bg][1]overlay=x='{moving}':y=100"]
            subprocess.run(
                [
                    *("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *source, *graph, "-t", str(seconds)),
                    *("-c:v", *encoder, "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
                    *("-g", str(max(1, int(fps * gop_s))), str(path)),
                ],
                check=True,
                timeout=120,
            )
            made[key] = path
        return made[key]

    return make


FLASH_EVERY_S = 2.0  # the synced clip: a white picture and a beep together, every 2 s for 0.2 s


@pytest.fixture(scope="session")
def synced_clip(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """H.264 + AAC MP4s (ffmpeg) whose picture turns white exactly while the sound beeps, so a
    recording shows whether picture and sound stayed together. ``sound_s`` ends the sound early,
    ``picture_s`` the picture (gst-rtsp-server skips a track under 20 % of the file's length)."""
    _require(shutil.which("ffmpeg") is not None, "ffmpeg is not installed")
    folder = tmp_path_factory.mktemp("synced")
    made: dict[tuple[float, float | None, float | None], Path] = {}

    def make(seconds: float = 40, sound_s: float | None = None, picture_s: float | None = None) -> Path:
        key = (seconds, sound_s, picture_s)
        if key not in made:
            path = folder / f"synced_{len(made)}.mp4"
            on = f"lt(mod(t,{FLASH_EVERY_S}),0.2)"
            trim = "" if sound_s is None else f",atrim=0:{sound_s}"
            cut = "" if picture_s is None else f",trim=0:{picture_s}"
            subprocess.run(
                [
                    *("ffmpeg", "-hide_banner", "-loglevel", "error", "-y"),
                    *("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10"),
                    *("-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100"),
                    "-filter_complex",
                    f"[0]drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{on}'{cut}[v];"
                    f"[1]volume=volume='if({on},1,0)':eval=frame{trim}[a]",
                    *("-map", "[v]", "-map", "[a]", "-t", str(seconds)),
                    *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "10"),
                    *("-c:a", "aac", "-ac", "1", str(path)),
                ],
                check=True,
                timeout=120,
            )
            made[key] = path
        return made[key]

    return make


# --- RTSP server -----------------------------------------------------------------------------


@dataclass
class RtspServer:
    """gst-rtsp-server in its own process, which the tests kill, freeze and restart like a camera."""

    clip: Path
    port: int
    user: str | None = None
    password: str | None = None
    codec: str = "h264"
    audio: str | None = None  # serve the clip's AAC track as aac, pcma, pcmu or opus
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        credentials = f"{self.user}:{self.password}@" if self.user else ""
        return f"rtsp://{credentials}127.0.0.1:{self.port}/stream"

    def start(self) -> RtspServer:
        command = [SYSTEM_PYTHON, str(RTSP_SERVER), "--file", str(self.clip), "--port", str(self.port)]
        command += ["--codec", self.codec]
        if self.audio:
            command += ["--audio", self.audio]
        if self.user:
            command += ["--user", self.user, "--password", self.password or ""]
        log = self.clip.with_name(f"rtsp-server-{self.port}.log")
        with open(log, "wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        ready = wait_until(lambda: "READY" in log.read_text() or self.process.poll() is not None, 15)  # type: ignore[union-attr]
        if not ready or "READY" not in log.read_text():
            self.kill()
            raise RuntimeError(f"RTSP server did not start: {log.read_text()}")
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
def rtsp_server(make_clip: Callable[..., Path]) -> Iterator[Callable[..., RtspServer]]:
    """Factory: ``rtsp_server(clip=…, user=…, password=…)`` starts a server on a free loopback port."""
    _require(Path(SYSTEM_PYTHON).exists(), "Debian's /usr/bin/python3 is missing")
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"], capture_output=True, check=False
    )
    _require(probe.returncode == 0, "gst-rtsp-server (gir1.2-gst-rtsp-server-1.0, python3-gi) is not installed")
    servers: list[RtspServer] = []

    def start(
        clip: Path | None = None,
        user: str | None = None,
        password: str | None = None,
        codec: str = "h264",
        audio: str | None = None,
    ) -> RtspServer:
        server = RtspServer(clip or make_clip(codec=codec), free_port(), user, password, codec, audio).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()


# --- VLC's RTSP server: a second implementation, UDP only ----------------------------------------

CVLC = "/usr/bin/cvlc"


@dataclass
class VlcServer:
    """VLC streaming a clip over RTSP. Its RTSP server offers RTP over UDP only (a SETUP for TCP
    gets 461 Unsupported transport), as some cameras do. VLC refuses to run as root: it runs as
    nobody."""

    clip: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    folder: Path = Path("/nonexistent")

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> VlcServer:
        self.folder = Path(tempfile.mkdtemp(prefix="vcam-vlc-"))  # where nobody can read the clip
        self.folder.chmod(0o755)
        readable = self.folder / self.clip.name
        shutil.copyfile(self.clip, readable)
        readable.chmod(0o644)
        log = self.folder / "vlc.log"
        command = [
            *("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"),
            *(CVLC, "-I", "dummy", "--no-audio", "--loop", str(readable)),
            *("--sout", f"#rtp{{sdp=rtsp://127.0.0.1:{self.port}/cam}}", "--sout-keep"),
        ]
        with open(log, "wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        if not wait_until(lambda: _port_open(self.port) or self.process.poll() is not None, 15):  # type: ignore[union-attr]
            self.kill()
            raise RuntimeError(f"VLC did not start: {log.read_text(errors='replace')}")
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def vlc_server(make_clip: Callable[..., Path]) -> Iterator[Callable[..., VlcServer]]:
    """Factory: ``vlc_server(clip=…)`` starts VLC's RTSP server on a free loopback port."""
    _require(Path(CVLC).exists(), "VLC is not installed (apt-get install vlc-bin vlc-plugin-base)")
    servers: list[VlcServer] = []

    def start(clip: Path | None = None) -> VlcServer:
        server = VlcServer(clip or make_clip(), free_port()).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()


# --- HTTP MJPEG server -----------------------------------------------------------------------


def mjpeg_frame(index: int, width: int = 320, height: int = 240) -> bytes:
    image = np.full((height, width, 3), 90, np.uint8)
    x = (index * 8) % (width - 40)
    cv2.rectangle(image, (x, 100), (x + 40, 140), (0, 200, 255), -1)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return bytes(data.tobytes())


MJPEG_VARIANTS = ("plain", "no-length", "odd-boundary")


class _MjpegHandler(BaseHTTPRequestHandler):
    """multipart/x-mixed-replace as cameras send it; the server's ``variant`` picks the quirk:
    parts without Content-Length (as some ESP32-CAM firmwares send them), or a quoted boundary
    made of odd characters."""

    fps = 10
    max_seconds = 120.0  # a bounded stream: the server never runs on by itself

    def do_GET(self) -> None:
        variant = getattr(self.server, "variant", "plain")
        boundary = "odd_b0undary-with.dots+=" if variant == "odd-boundary" else "frame"
        self.send_response(200)
        shown = f'"{boundary}"' if variant == "odd-boundary" else boundary
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={shown}")
        self.end_headers()
        started = time.monotonic()
        index = 0
        with contextlib.suppress(OSError):
            while time.monotonic() - started < self.max_seconds and not getattr(self.server, "closing", False):
                jpeg = mjpeg_frame(index)
                head = f"--{boundary}\r\nContent-Type: image/jpeg\r\n"
                if variant != "no-length":
                    head += f"Content-Length: {len(jpeg)}\r\n"
                self.wfile.write(head.encode() + b"\r\n" + jpeg + b"\r\n")
                self.wfile.flush()
                index += 1
                time.sleep(1 / self.fps)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def mjpeg_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """An HTTP MJPEG camera; parametrize indirectly with one of MJPEG_VARIANTS for a quirk."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MjpegHandler)
    server.daemon_threads = True
    server.variant = getattr(request, "param", "plain")  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/video.mjpg"
    server.closing = True  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


@pytest.fixture
def motion_mjpeg(rtsp_server: Callable[..., RtspServer], tmp_path: Path) -> Iterator[str]:
    """Motion (the C daemon, Debian's `motion`) re-serving an RTSP camera as an MJPEG stream: an
    MJPEG server vcam did not write (chunked transfer, its own boundary and part headers)."""
    _require(Path("/usr/bin/motion").exists(), "motion is not installed (apt-get install motion)")
    camera = rtsp_server()
    port = free_port()
    folder = tmp_path / "motion"
    folder.mkdir()
    config = folder / "motion.conf"
    config.write_text(
        "daemon off\nsetup_mode off\nlog_level 4\nwebcontrol_port 0\nmovie_output off\npicture_output off\n"
        f"target_dir {folder}\nnetcam_url {camera.url}\nnetcam_params rtsp_transport = tcp\n"
        f"width 320\nheight 240\nframerate 10\nstream_port {port}\nstream_localhost on\nstream_maxrate 10\n"
    )
    with open(folder / "motion.log", "wb") as log:
        process = subprocess.Popen(["/usr/bin/motion", "-n", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"

    def serving() -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            sock.settimeout(2)
            return b"image/jpeg" in sock.recv(4096) + sock.recv(4096)
        return False

    try:
        _require(wait_until(serving, 20, 0.5), f"Motion serves no MJPEG: {(folder / 'motion.log').read_text()}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket that accepts connections and never says a word: the worst kind of dead camera."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"rtsp://127.0.0.1:{listener.getsockname()[1]}/stream"
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """A server that answers every connection with a few kilobytes of noise and hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    noise = np.random.default_rng(0)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with contextlib.suppress(OSError), conn:
                conn.settimeout(2)
                conn.recv(4096)
                conn.sendall(noise.integers(0, 256, 3000, dtype=np.uint8).tobytes())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"rtsp://127.0.0.1:{listener.getsockname()[1]}/stream"
    stop.set()
    thread.join(2)
    listener.close()


# --- the daemon ------------------------------------------------------------------------------


@dataclass
class Daemon:
    """``vcam_runner.py`` as a subprocess, its JSON log lines collected with the time they arrived."""

    env: dict[str, str]
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None
    lines: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)

    def start(self) -> Daemon:
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "vcam_runner.py"), *self.args],
            env=self.env,
            cwd=self.env.get("VCAM_TEST_CWD", str(REPO)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._collect, daemon=True).start()
        return self

    def _collect(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.raw.append(line)
            with contextlib.suppress(json.JSONDecodeError):
                self.lines.append((time.monotonic(), json.loads(line)))

    def events(self, name: str, since: float = 0.0) -> list[tuple[float, dict[str, Any]]]:
        return [(t, e) for t, e in list(self.lines) if e.get("event") == name and t >= since]

    def wait_for(self, name: str, timeout: float, since: float = 0.0, count: int = 1) -> tuple[float, dict[str, Any]]:
        found = wait_until(lambda: len(self.events(name, since)) >= count, timeout)
        if not found:
            tail = "".join(self.raw[-30:])
            raise AssertionError(f"no {name!r} (x{count}) within {timeout} s; log tail:\n{tail}")
        return self.events(name, since)[count - 1]

    def terminate(self, timeout: float = 15.0) -> tuple[int, float]:
        """SIGTERM; returns (exit code, seconds it took)."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        return code, time.monotonic() - started

    def output(self) -> str:
        return "".join(self.raw)


def daemon_env(folder: Path, **settings: str) -> dict[str, str]:
    """The test daemon's environment: JSON logs, VIDEO_DIR and the working folder in ``folder``,
    metrics and the web UI on, as by default, on ports of their own; ``settings`` over it."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONUNBUFFERED": "1",
        "VIDEO_DIR": str(folder / "video"),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "debug",
        "METRICS_ADDR": "127.0.0.1:0",
        "WEB_ADDR": "127.0.0.1:0",
        "VCAM_TEST_CWD": str(folder),
    }
    return {**env, **settings}


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Factory: ``daemon(RTSP_URL=…, STALL_TIMEOUT=…)`` runs the real daemon with JSON logs in a temp VIDEO_DIR."""
    started: list[Daemon] = []

    def start(*args: str, **settings: str) -> Daemon:
        proc = Daemon(daemon_env(tmp_path, **settings), list(args)).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.process is None:
            continue
        if proc.process.poll() is None:
            proc.process.kill()
        proc.process.wait(10)
        if proc.process.stdout:
            proc.process.stdout.close()


# --- checking what was written ---------------------------------------------------------------


def ffprobe(path: Path) -> dict[str, str]:
    """Stream and format facts of a video file, from the real ffprobe."""
    out = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0"),
            *("-show_entries", "stream=codec_name,pix_fmt,nb_read_frames,width,height:format=duration,format_name"),
            *("-of", "default=noprint_wrappers=1", str(path)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def decodes_cleanly(path: Path) -> bool:
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0 or result.stderr.strip():
        print(f"ffmpeg on {path.name}: exit {result.returncode}: {result.stderr.strip()[:2000]}")
        return False
    return True


PLAYER_PAGE = """<!doctype html><html><body><video id="v" src="{src}" muted playsinline></video><script>
const v = document.getElementById("v");
window.result = {{}};
v.addEventListener("loadedmetadata", () => {{
  Object.assign(window.result, {{duration: v.duration, width: v.videoWidth, height: v.videoHeight}});
  v.play().then(() => {{ window.result.playing = true; }}).catch(e => {{ window.result.playError = String(e); }});
}});
v.addEventListener("error", () => {{
  window.result.error = v.error ? v.error.code + " " + v.error.message : "unknown";
}});
v.addEventListener("timeupdate", () => {{
  if (v.currentTime > 1.0 && !window.result.advanced) window.result.advanced = v.currentTime;
}});
</script></body></html>"""

CHROMIUM = "/usr/bin/chromium"  # Debian's: Playwright cannot download browsers here


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, one per test module; it may play sound and video unasked."""
    _require(Path(CHROMIUM).exists(), "chromium is not installed")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        )
        yield launched
        launched.close()


def log_in_browser(page: Page, base: str, password: str, user: str = "admin") -> None:
    """The login form filled in as a person would; done when the cameras page is open."""
    page.goto(base + "/login")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


def play_in_chromium(clip: Path, scratch: Path) -> dict[str, Any]:
    """Load ``clip`` in a <video> in Debian's headless Chromium, driven by Playwright in real time
    (a clip with sound plays at the sound's clock, which headless virtual time does not move);
    what the page saw, as a dict: duration, size, playing, advanced (currentTime past 1 s), error."""
    _require(Path(CHROMIUM).exists(), "chromium is not installed")
    page_file = clip.parent / "player.html"
    page_file.write_text(PLAYER_PAGE.format(src=clip.name))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
            )
            try:
                page = browser.new_page()
                page.goto(page_file.as_uri())
                with contextlib.suppress(PlaywrightError):  # the dict then says how far it got
                    page.wait_for_function("window.result.advanced || window.result.error", timeout=15000)
                seen: dict[str, Any] = page.evaluate("window.result")
            finally:
                browser.close()
    finally:
        page_file.unlink()
    return seen


def thumbnails(path: Path) -> np.ndarray:
    """Every frame as a small grey picture (below the label band), for finding frames in the source."""
    found = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            gray = frame.to_ndarray(format="gray")[40:, :]
            found.append(gray[::8, ::8].astype(np.float32))
    return np.stack(found)


def source_index(source: np.ndarray, picture: np.ndarray) -> int:
    return int(np.argmin(((source - picture) ** 2).mean(axis=(1, 2))))
