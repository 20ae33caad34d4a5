"""The web UI of the real daemon recording from a real RTSP camera (gst-rtsp-server): every route
checked anonymously and as a viewer, CSRF, HTTP Range, path traversal over HTTP, the login limit,
the CLI adding users while the daemon runs; then Debian's Chromium driven by Playwright logs in,
watches the live view, plays, records and deletes clips, on a desktop and a phone-sized screen.

One daemon serves the whole module (its checks do not disturb each other): start-up is paid once.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlencode

import pytest
from conftest import (
    REPO,
    SYSTEM_PYTHON,
    Daemon,
    RtspServer,
    _require,
    daemon_env,
    free_port,
    log_in_browser,
    wait_until,
)
from playwright.sync_api import Browser, Page
from web_client import Client

from vcam.web.server import ADMIN, ANYONE, DEVICE, ROUTES, build_app
from vcam.web.site import Site

pytestmark = pytest.mark.slow

CAMERA = "front"
CLIP_S = 4
CAMERA_PASSWORD = "Cam-s3cret-9x"  # must never show in a page or an answer
PROXY_CLIENT = "192.0.2.7"  # the address a trusted proxy (127.0.0.1) says a request came from


@dataclass
class Web:
    daemon: Daemon
    port: int
    video: Path
    password: str
    env: dict[str, str]
    camera: RtspServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Client:
        return Client(self.port)

    def admin(self) -> Client:
        client = self.client()
        assert client.login("admin", self.password).status == 303
        return client

    def vcam(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """The CLI, on the same settings as the daemon (while it runs)."""
        return subprocess.run(
            [sys.executable, str(REPO / "vcam_runner.py"), *args],
            input=stdin,
            env=self.env,
            cwd=self.env["VCAM_TEST_CWD"],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def clips(self) -> list[Path]:
        return sorted((self.video / CAMERA).glob("*/*.mp4"))


@pytest.fixture(scope="module")
def web(make_clip: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    _require(Path(SYSTEM_PYTHON).exists(), "Debian's /usr/bin/python3 is missing")
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"], capture_output=True, check=False
    )
    _require(probe.returncode == 0, "gst-rtsp-server is not installed")
    folder = tmp_path_factory.mktemp("web")
    # a square crosses every 30 s; the camera wants a password
    camera = RtspServer(make_clip(seconds=30, onset=3), free_port(), "viewer", CAMERA_PASSWORD).start()
    port = free_port()
    env = daemon_env(
        folder,
        METRICS_ADDR="off",
        WEB_ADDR=f"127.0.0.1:{port}",
        WEB_TRUSTED_PROXIES="127.0.0.1",
        RTSP_URL=camera.url,
        CAMERA_NAME=CAMERA,
        CLIP_SECONDS=str(CLIP_S),
        PRE_SECONDS="1",
        SNAPSHOT_INTERVAL="2",
    )
    daemon = Daemon(env).start()
    try:
        _, first = daemon.wait_for("web_first_user", 20)
        daemon.wait_for("web_serving", 20)
        daemon.wait_for("camera_connected", 20)
        yield Web(daemon, port, folder / "video", first["password"], env, camera)
    finally:
        assert daemon.process is not None
        if daemon.process.poll() is None:
            code, took = daemon.terminate()
            assert code == 0 and took < 10  # with viewers and sessions open
        if daemon.process.stdout:
            daemon.process.stdout.close()
        camera.kill()


def web_client_for(port: int) -> Client:
    return Client(port)


def concrete(path: str, clip: str = "front/2026-01-01/front_20260101_000000.mp4") -> str:
    """A route's pattern with each part filled in."""
    values = {"camera": CAMERA, "event": "1", "clip": "1", "user": "nobody", "switch": "detect", "path": clip}
    values["token"] = "not-a-pairing-token"
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: values[m[1]], path)


def test_the_route_table_is_every_route_of_the_app() -> None:
    app = build_app(cast(Site, None))
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    listed = {(method, re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)) for method, path, _, _ in ROUTES}
    assert served == listed | {("GET", "/static")}


def test_no_route_answers_without_a_session_or_token(web: Web) -> None:
    anonymous = web.client()
    seen = []
    for method, path, _, who in ROUTES:
        url = concrete(path)
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if method != "GET" else {}
        reply = anonymous.request(method, url, b"" if method != "GET" else None, headers)
        token = web.client().request(method, url, None, {"Authorization": "Bearer not-a-token"})
        seen.append((method, url, reply.status, token.status))
        if who != ANYONE:
            assert token.status == reply.status, (method, url)  # a wrong token opens no more than none
        if (method, path) == ("GET", "/login"):
            assert reply.status == 200
        elif (method, path) == ("POST", "/login"):
            assert reply.status == 401  # no user, no password: a failed login
        elif who == ANYONE:
            assert reply.status == 403, (url, reply)  # a pairing link that is none
        elif method == "GET" and not path.startswith("/api/"):
            assert reply.status == 303 and reply.headers["location"].startswith("/login?next="), (url, reply)
        else:
            assert reply.status == 401, (method, url, reply.status)
        assert b"front_2026" not in reply.body and b"<video" not in reply.body
    static = anonymous.request("GET", "/static/style.css")
    assert static.status == 200 and b"vcam" in static.body  # the same for everyone: no data in it
    print("\nanonymous:", *(f"{m} {u} -> {s} (bad token {t})" for m, u, s, t in seen), sep="\n  ")


def test_a_viewer_made_by_the_cli_watches_but_changes_nothing(web: Web) -> None:
    made = web.vcam("user", "add", "vera", stdin="viewer-password\n")
    assert made.returncode == 0, made.stderr
    listed = web.vcam("user", "list")
    assert "vera  viewer" in listed.stdout and "admin  admin" in listed.stdout
    viewer = web.client()
    assert viewer.login("vera", "viewer-password").status == 303
    assert viewer.request("GET", "/").status == 200
    assert viewer.request("GET", "/api/cameras").status == 200
    for method, path, _, who in ROUTES:
        if who not in (ADMIN, DEVICE):  # a viewer may not pair, nor stream into a camera
            continue
        url = concrete(path)
        if method == "GET":
            reply = viewer.request(method, url)
        else:
            json_body = {"X-CSRF-Token": viewer.csrf, "Content-Type": "application/json"}
            reply = viewer.request(method, url, b"{}", json_body)
        assert reply.status == 403, (method, url, reply.status)
    token = web.vcam("user", "token", "vera", "script").stdout.strip()
    scripted = web.client()
    cameras = scripted.request("GET", "/api/cameras", headers={"Authorization": f"Bearer {token}"})
    assert cameras.status == 200 and cameras.json()[0]["name"] == CAMERA
    refused = scripted.request("POST", f"/api/cameras/{CAMERA}/record", headers={"Authorization": f"Bearer {token}"})
    assert refused.status == 403


def test_every_change_needs_the_pages_csrf_token(web: Web) -> None:
    admin = web.admin()
    record = f"/cameras/{CAMERA}/record"
    assert admin.form(record, {}).status == 403
    assert admin.form(record, {"csrf": "wrong"}).status == 403
    assert admin.form(record, {"csrf": admin.csrf}, {"Origin": "http://evil.example"}).status == 403
    assert admin.request("PUT", f"/api/cameras/{CAMERA}/switches/snapshots", b'{"on": true}').status == 403
    since = time.monotonic()
    assert admin.form(record, {"csrf": admin.csrf}, {"Origin": web.url}).status == 303
    web.daemon.wait_for("record_requested", 5, since=since)
    switched = admin.request(
        "PUT",
        f"/api/cameras/{CAMERA}/switches/snapshots",
        b'{"on": true}',
        {"X-CSRF-Token": admin.csrf, "Content-Type": "application/json"},
    )
    assert switched.status == 200 and switched.json()["on"] is True
    bad = admin.request("PUT", f"/api/cameras/{CAMERA}/switches/snapshots", b"{", {"X-CSRF-Token": admin.csrf})
    assert bad.status == 400 and "JSON" in bad.json()["error"]


def test_clips_are_served_with_range_and_nothing_outside_video_dir(web: Web) -> None:
    assert wait_until(web.clips, 60), web.daemon.output()[-3000:]
    admin = web.admin()
    clips = admin.request("GET", "/api/clips").json()
    assert clips, "the event log lists no clip"
    path = clips[0]["path"]
    whole = admin.request("GET", "/files/" + quote(path))
    assert whole.status == 200 and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4" and whole.body[4:8] == b"ftyp"
    part = admin.request("GET", "/files/" + quote(path), headers={"Range": "bytes=100-199"})
    assert part.status == 206 and len(part.body) == 100 and part.body == whole.body[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.body)}"
    tail = admin.request("GET", "/files/" + quote(path), headers={"Range": "bytes=-50"})
    assert tail.status == 206 and tail.body == whole.body[-50:]
    for attempt in (
        "/files/events.sqlite3",
        "/files/..%2Fevents.sqlite3",
        "/files/front/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/files/%2Fetc%2Fpasswd",
        "/files/.tmp/front/.lock",
        "/files/front/../events.sqlite3",
    ):
        reply = admin.request("GET", attempt)
        assert reply.status == 404 and b"root:" not in reply.body and b"SQLite" not in reply.body, attempt


def test_failed_logins_are_limited_per_address_and_logout_ends_the_session(web: Web) -> None:
    forwarded = {"X-Forwarded-For": PROXY_CLIENT}  # through the trusted proxy (127.0.0.1)
    for _ in range(5):
        assert web.client().login("admin", "wrong", forwarded).status == 401
    assert web.client().login("admin", web.password, forwarded).status == 429  # even the right one, for now
    assert web.client().login("admin", web.password).status == 303  # 127.0.0.1 itself is not held back
    web.daemon.wait_for("login_refused", 5)
    failures = [e for _, e in web.daemon.events("login_failed") if e["address"] == PROXY_CLIENT]
    assert len(failures) == 5
    admin = web.admin()
    log = admin.request("GET", "/access")
    assert log.status == 200 and PROXY_CLIENT.encode() in log.body and b"rate limited" in log.body
    cookie = dict(admin.cookies)
    assert admin.form("/logout", {"csrf": admin.csrf}).status == 303
    stale = web.client()
    stale.cookies = cookie
    assert stale.request("GET", "/events").status == 303  # the old cookie opens nothing
    assert stale.request("GET", "/api/events").status == 401


def test_no_page_or_answer_shows_the_cameras_password(web: Web) -> None:
    admin = web.admin()
    pages = ["/", f"/cameras/{CAMERA}", "/settings", "/storage", "/events", "/access", "/users"]
    pages += ["/api/cameras", "/api/settings", "/api/events", "/api/clips", "/api/storage"]
    for page in pages:
        reply = admin.request("GET", page)
        assert reply.status == 200, page
        assert CAMERA_PASSWORD.encode() not in reply.body, page
    shown = admin.request("GET", "/api/settings").json()
    assert shown["RTSP_URL"].startswith("rtsp://viewer:***@127.0.0.1:")
    assert CAMERA_PASSWORD not in web.daemon.output()


def test_https_with_a_self_signed_certificate(daemon: Any, tmp_path: Path) -> None:
    """WEB_CERT=self-signed: a certificate made at the first start, the cookie Secure, HSTS."""
    port = free_port()
    vcam = daemon("--demo", WEB_ADDR=f"127.0.0.1:{port}", WEB_CERT="self-signed")
    _, made = vcam.wait_for("web_certificate_made", 20)
    _, serving = vcam.wait_for("web_serving", 20)
    assert serving["url"] == f"https://127.0.0.1:{port}/"
    key = Path(made["cert"]).with_suffix(".key")
    assert key.stat().st_mode & 0o077 == 0  # the key is the daemon's alone
    password = vcam.events("web_first_user")[0][1]["password"]
    context = ssl.create_default_context(cafile=made["cert"])
    context.check_hostname = False  # the certificate names the host and localhost; this is 127.0.0.1
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=20, context=context)
    try:
        body = urlencode({"user": "admin", "password": password, "next": "/"})
        connection.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 303
        cookie = answer.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        connection.close()
    plain = web_client_for(port)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        plain.request("GET", "/login")  # plain HTTP to the HTTPS port gets nothing


# --- in a real browser ----------------------------------------------------------------------------


def log_in(page: Page, web: Web, user: str = "admin", password: str | None = None) -> None:
    page.goto(web.url + "/")
    assert "/login" in page.url
    log_in_browser(page, web.url, password or web.password, user)


def test_in_a_browser_log_in_watch_play_record_and_delete(web: Web, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, web)
    live = page.locator("img.live").first
    live.wait_for()
    assert wait_until(lambda: page.evaluate("document.querySelector('img.live').naturalWidth") > 0, 10)
    first = live.screenshot()
    time.sleep(1.0)
    assert live.screenshot() != first, "the live picture did not change"
    print(f"\nlive view: {page.evaluate('document.querySelector(`img.live`).naturalWidth')} px wide, pictures change")

    assert wait_until(lambda: web.daemon.events("clip_saved"), 60)
    page.goto(web.url + "/events")
    page.locator("a.event").first.click()
    video = page.locator("video").first
    video.wait_for()
    page.evaluate("document.querySelector('video').muted = true; document.querySelector('video').play()")
    assert wait_until(lambda: page.evaluate("document.querySelector('video').currentTime") > 1.0, 15)
    duration = page.evaluate("document.querySelector('video').duration")
    assert abs(duration - CLIP_S) < 0.6, duration
    print(f"played: duration {duration:.2f} s, currentTime advanced past 1 s")

    source = page.evaluate("document.querySelector('video').getAttribute('src')")
    on_disk = web.video / source.removeprefix("/files/")
    assert on_disk.exists()
    page.locator("form[action$='/delete'] button").first.click()  # the dialog is accepted above
    page.wait_for_url(web.url + "/events")
    assert wait_until(lambda: not on_disk.exists(), 5)
    listed = [c["path"] for c in web.admin().request("GET", "/api/clips").json()]
    assert source.removeprefix("/files/") not in listed
    web.daemon.wait_for("clip_deleted", 5)
    print(f"deleted {on_disk.name}: gone from disk and from the list")

    page.goto(web.url + f"/cameras/{CAMERA}")
    since = time.monotonic()
    saved_before = len(web.daemon.events("clip_saved"))
    page.click("text=Record a clip now")
    web.daemon.wait_for("record_requested", 5, since=since)
    web.daemon.wait_for("clip_saved", CLIP_S + 15, count=saved_before + 1)
    print("recorded on demand: a clip saved")

    for name in ("/storage", "/settings", f"/snapshots/{CAMERA}", "/access", "/users", "/account"):
        reply = page.goto(web.url + name)
        assert reply is not None and reply.status == 200, name
    page.goto(web.url + "/settings")
    assert "RTSP_URL" in page.content() and "127.0.0.1" in page.content()
    context.close()


def test_in_a_browser_wrong_passwords_are_refused_and_limited(web: Web, browser: Browser) -> None:
    context = browser.new_context(extra_http_headers={"X-Forwarded-For": "198.51.100.9"})
    page = context.new_page()
    page.goto(web.url + "/events")
    assert page.url.startswith(web.url + "/login?next=")  # logged out: the login page, then back here
    for _ in range(5):
        page.fill("input[name=user]", "admin")
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        assert page.locator(".problem").inner_text() == "Wrong user or password."
    page.fill("input[name=user]", "admin")
    page.fill("input[name=password]", web.password)
    page.click("button[type=submit]")
    assert "Too many failed logins" in page.locator(".problem").inner_text()
    context.close()


def test_in_a_browser_on_a_phone(web: Web, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    log_in(page, web)
    for name in ("/", "/events", f"/cameras/{CAMERA}", "/storage"):
        page.goto(web.url + name)
        with contextlib.suppress(Exception):
            page.locator("img.live").first.wait_for(timeout=3000)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (name, overflow)
    width = page.evaluate("document.querySelector('img.live') && document.querySelector('img.live').width")
    assert width is None or width <= 390
    context.close()


def test_last_a_camera_that_is_down_shows_its_newest_snapshot_and_since_when(web: Web) -> None:
    """Last in the module: it takes the camera away."""
    web.camera.kill()
    admin = web.admin()

    def refused() -> dict[str, Any] | None:  # not the end of the looped file, after which it reconnects
        (state,) = admin.request("GET", "/api/cameras").json()
        return state if state["state"] == "down" and "refused" in state["summary"] else None

    state = wait_until(refused, 20)
    assert state is not None and state["summary"].startswith("offline since 20"), state
    still = admin.request("GET", f"/cameras/{CAMERA}/latest.jpg")
    assert still.status == 200 and still.body[:2] == b"\xff\xd8"
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=15)
    connection.request(
        "GET", f"/cameras/{CAMERA}/live.mjpeg", headers={"Cookie": f"vcam_session={admin.cookies['vcam_session']}"}
    )
    answer = connection.getresponse()
    started = time.monotonic()
    head = b""
    while b"\r\n\r\n" not in head:
        head += answer.fp.readline()
    length = int(re.search(rb"Content-Length: (\d+)", head)[1])  # type: ignore[index]
    picture = answer.fp.read(length)
    connection.close()
    assert picture == still.body  # the newest snapshot, in place of live pictures
    took = time.monotonic() - started
    print(f"\ncamera down: '{state['summary']}', its newest snapshot in the live view {took:.1f} s after asking")
