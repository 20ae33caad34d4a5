"""The web UI's server: aiohttp on an event loop of its own thread, so a page left open, a slow
phone or ten viewers never touch a camera's threads. Every route is in ROUTES; every one but the
login page and the static files needs a session or an API token (the guard middleware).

aiohttp, measured against Flask+waitress and Starlette+uvicorn (../shared/FACTS.md: 36, 31 and 31
MB): an MJPEG viewer is a coroutine, not a thread (waitress's four threads would be taken by
four viewers), and it serves HTTP Range itself; 5 MB more is its price.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from vcam import layout
from vcam.config import SELF_SIGNED, WebSettings
from vcam.web import api, devices, pages, security, stream, timeline
from vcam.web.site import SITE, Site

STATIC = Path(__file__).parent / "static"
START_TIMEOUT_S = 5.0
SHUTDOWN_S = 1.0  # open live views are cut after this at stop
MAX_REQUEST = 64 * 1024  # forms and JSON are small; nothing is uploaded

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Who may use a route: anyone logged in; admins only; admins and the device paired to the camera
# (a browser camera's page and its stream); anyone (the login page, a pairing link).
VIEW, ADMIN, DEVICE, ANYONE = "view", "admin", "device", "anyone"

# (method, path, handler, who): every route of the app
ROUTES: tuple[tuple[str, str, Handler, str], ...] = (
    ("GET", "/login", pages.login_page, ANYONE),
    ("POST", "/login", pages.login, ANYONE),
    ("GET", "/pair/{token}", devices.pair, ANYONE),
    ("POST", "/logout", pages.logout, VIEW),
    ("GET", "/", pages.cameras, VIEW),
    ("GET", "/cameras/add-this-device", devices.device_page, DEVICE),
    ("GET", "/cameras/{camera}", pages.camera, VIEW),
    ("GET", "/cameras/{camera}/feed", devices.feed, DEVICE),
    ("POST", "/cameras/{camera}/pair", devices.new_link, ADMIN),
    ("GET", "/cameras/{camera}/live.mjpeg", stream.live, VIEW),
    ("GET", "/cameras/{camera}/latest.jpg", stream.latest, VIEW),
    ("GET", "/cameras/{camera}/timeline", timeline.timeline, VIEW),
    ("POST", "/cameras/{camera}/record", pages.record, ADMIN),
    ("POST", "/cameras/{camera}/switches", pages.switch, ADMIN),
    ("GET", "/events", pages.events, VIEW),
    ("GET", "/events/{event}", pages.event, VIEW),
    ("GET", "/clips/{clip}", pages.clip, VIEW),
    ("POST", "/clips/{clip}/delete", pages.delete_clip, ADMIN),
    ("GET", "/files/{path:.+}", stream.stored, VIEW),
    ("GET", "/storage", pages.storage_page, VIEW),
    ("GET", "/settings", pages.settings_page, VIEW),
    ("GET", "/snapshots/{camera}", pages.snapshots, VIEW),
    ("GET", "/access", pages.access, ADMIN),
    ("GET", "/users", pages.users, ADMIN),
    ("POST", "/users", pages.add_user, ADMIN),
    ("POST", "/users/{user}/delete", pages.remove_user, ADMIN),
    ("POST", "/tokens", pages.add_token, ADMIN),
    ("POST", "/tokens/revoke", pages.revoke_token, ADMIN),
    ("GET", "/account", pages.account, VIEW),
    ("POST", "/account/password", pages.change_password, VIEW),
    *((method, path, handler, ADMIN if admin else VIEW) for method, path, handler, _, admin in api.ROUTES),
)
WHO = {(method, path): who for method, path, _, who in ROUTES}

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An answer for every request, never a traceback: a failing handler is logged on one line."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as exc:
        request.app[SITE].log.exception("web_error", path=request.path, error=f"{type(exc).__name__}: {exc}")
        if security.wants_json(request):
            return api.problem(500, "internal error (see the daemon's log)")
        return web.Response(status=500, text="internal error (see the daemon's log)\n")


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    site = request.app[SITE]
    trusted = site.settings.web.trusted_proxies
    request["address"] = security.client_address(request.remote, request.headers.get("X-Forwarded-For"), trusted)
    route = request.match_info.route.resource
    who = WHO.get((request.method, route.canonical)) if route is not None else VIEW
    if who == ANYONE or security.is_static(request.method, request.path):
        return await handler(request)
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        user = await asyncio.to_thread(site.accounts.api_user, authorization[7:].strip())
        if user is None:
            return _refused(request, "no such API token")
        request["user"], request["session"] = user, None
        return await _as_role(request, handler, who)
    token = request.cookies.get(security.COOKIE)
    session = await asyncio.to_thread(site.accounts.session, token) if token else None
    if session is None:
        if who == DEVICE:
            return await _as_device(request, handler)
        return _refused(request, "log in first")
    if request.method not in security.SAFE_METHODS:
        form_token = None
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form_token = str((await request.post()).get(security.CSRF_FIELD, ""))
        if not security.same_origin(request) or not security.csrf_ok(request, session, form_token):
            site.log.warning("csrf_refused", path=request.path, user=session.user.name, address=request["address"])
            if security.wants_json(request):
                return api.problem(403, f"missing or wrong {security.CSRF_HEADER}")
            return web.Response(status=403, text="this form is stale: reload the page and try again\n")
    request["user"], request["session"] = session.user, session
    return await _as_role(request, handler, who)


async def _as_role(request: web.Request, handler: Handler, who: str | None) -> web.StreamResponse:
    """A viewer watches and downloads; what changes things is for admins (ROUTES says which)."""
    user = security.user_of(request)
    if not user.admin and who in (ADMIN, DEVICE):
        if security.wants_json(request):
            return api.problem(403, "an admin may do this, a viewer may not")
        return web.Response(status=403, text="an admin may do this, a viewer may not\n")
    return await handler(request)


async def _as_device(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A paired device (its cookie from a pairing link) may open its camera's page and stream to it."""
    site = request.app[SITE]
    token = request.cookies.get(security.DEVICE_COOKIE)
    camera = await asyncio.to_thread(site.accounts.device_camera, token) if token else None
    wanted = request.match_info.get("camera")
    if camera is None or (wanted is not None and wanted != camera):
        return _refused(request, "log in, or open a pairing link on this device")
    request["user"], request["session"], request["device"] = None, None, camera
    return await handler(request)


def _refused(request: web.Request, why: str) -> web.StreamResponse:
    if security.wants_json(request) or request.method not in ("GET", "HEAD"):
        return api.problem(401, why)
    raise web.HTTPSeeOther("/login?" + urlencode({"next": request.path_qs}))


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if security.is_https(request, request.app[SITE].settings.web.trusted_proxies):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


def build_app(site: Site) -> web.Application:
    app = web.Application(middlewares=[errors, guard], client_max_size=MAX_REQUEST)
    app[SITE] = site
    app[stream.ENCODER] = stream.Encoder()
    app[stream.CLOSING] = asyncio.Event()
    app.on_shutdown.append(stream.closing)
    for method, path, handler, _ in ROUTES:
        app.router.add_route(method, path, handler)
    app.router.add_static("/static/", STATIC, append_version=False)
    app.on_response_prepare.append(_headers)
    return app


def tls_context(web_settings: WebSettings, state_dir: Path, log: Any) -> ssl.SSLContext | None:
    """The certificate given, or a self-signed one made once (kept beside the event database)."""
    cert, key = Path(web_settings.cert), Path(web_settings.key)
    if web_settings.cert == SELF_SIGNED:
        cert, key = layout.tls_paths(state_dir)
        if not (cert.is_file() and key.is_file()):
            make_self_signed(cert, key)
            log.info("web_certificate_made", cert=str(cert), note="self-signed: browsers ask once to accept it")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


def make_self_signed(cert: Path, key: Path) -> None:
    cert.parent.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-days", "3650", "-subj", f"/CN={host}", "-keyout", str(key), "-out", str(cert)),
            *("-addext", f"subjectAltName=DNS:{host},DNS:{host}.local,DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    key.chmod(0o600)


class WebServer:
    def __init__(self, site: Site, state_dir: Path, log: Any) -> None:
        self.site = site
        self.state_dir = state_dir
        self.log = log
        self.url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Serving, or said why not (the cameras record either way)."""
        settings = self.site.settings.web
        assert settings.addr is not None
        try:
            context = tls_context(settings, self.state_dir, self.log) if settings.cert else None
        except (OSError, ssl.SSLError, subprocess.SubprocessError) as exc:
            self.log.error("web_unavailable", problem=f"WEB_CERT/WEB_KEY: {exc}")
            return False
        ready = threading.Event()
        failure: list[str] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def serve() -> None:
            runner = web.AppRunner(build_app(self.site), access_log=None, shutdown_timeout=SHUTDOWN_S)
            await runner.setup()
            host, port = settings.addr or ("0.0.0.0", 8080)
            site = web.TCPSite(runner, host, port, ssl_context=context, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                failure.append(exc.strerror or str(exc))
                await runner.cleanup()
                return
            self._runner = runner
            bound = runner.addresses[0][1] if runner.addresses else port
            scheme = "https" if context else "http"
            self.url = f"{scheme}://{host}:{bound}/"

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(serve())
            ready.set()
            if self._runner is not None:
                loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="web", daemon=True)
        self._thread.start()
        ready.wait(START_TIMEOUT_S)
        if self._runner is None:
            host, port = settings.addr
            self.log.error("web_unavailable", addr=f"{host}:{port}", error=failure[0] if failure else "did not start")
            return False
        self.log.info("web_serving", url=self.url)
        return True

    def stop(self) -> None:
        loop, runner = self._loop, self._runner
        if loop is None or runner is None or self._thread is None:
            return
        started = time.monotonic()
        future = asyncio.run_coroutine_threadsafe(runner.cleanup(), loop)
        try:
            future.result(SHUTDOWN_S + 1)
        except Exception as exc:
            self.log.warning("web_stop_slow", error=f"{type(exc).__name__}: {exc}")
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(max(0.1, SHUTDOWN_S + 1 - (time.monotonic() - started)))
