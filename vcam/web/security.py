"""Who may do what: sessions and API tokens on every route but the login page and the static
files, CSRF on every change, roles, the client's address behind trusted proxies, and files that
can never be read from outside VIDEO_DIR."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from aiohttp import web

from vcam import layout
from vcam.web import auth
from vcam.web.accounts import Session, User

COOKIE = "vcam_session"
DEVICE_COOKIE = "vcam_device"  # a paired browser camera's: opens its camera page and stream only
COOKIE_MAX_AGE = 30 * 86400
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATIC_PREFIX = "/static/"  # the style sheet and scripts: the same for everyone, no data

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_static(method: str, path: str) -> bool:
    return method in ("GET", "HEAD") and path.startswith(STATIC_PREFIX)


def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def client_address(remote: str | None, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """The client: the peer, or, when the peer is a trusted proxy, the nearest untrusted address
    in X-Forwarded-For (a client can put anything at the front of that header)."""
    address = remote or "?"
    if not trusted or not forwarded_for or not _trusted(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not _trusted(hop, trusted):
            return hop
    return address


def _trusted(address: str, trusted: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(t, strict=False) for t in trusted)


def is_https(request: web.Request, trusted: tuple[str, ...]) -> bool:
    if request.secure:
        return True
    proto = request.headers.get("X-Forwarded-Proto", "")
    return proto.lower() == "https" and _trusted(request.remote or "", trusted)


def give_cookie(
    response: web.StreamResponse, request: web.Request, name: str, token: str, *, max_age: int, trusted: tuple[str, ...]
) -> None:
    """Our cookies: HttpOnly, SameSite=Lax, and Secure whenever the browser came over HTTPS."""
    response.set_cookie(
        name, token, max_age=max_age, httponly=True, samesite="Lax", secure=is_https(request, trusted), path="/"
    )


def same_origin(request: web.Request) -> bool:
    """A change must come from our own pages: Origin (or Referer) names this host, when sent."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return True  # scripts and old browsers send none; the CSRF token still has to match
    host = request.headers.get("X-Forwarded-Host") or request.host
    return urlsplit(origin).netloc == host


def safe_file(video_dir: Path, text: str) -> Path | None:
    """The clip or snapshot that ``text`` (a path relative to VIDEO_DIR, as the URL gave it)
    names; None for anything else: '..', absolute or encoded tricks, a symlink that leads out of
    VIDEO_DIR or to a file that is no clip or snapshot (the event database), a missing file."""
    text = unquote(text)
    if not text or "\\" in text or "\x00" in text or text.startswith("/"):
        return None
    relative = PurePosixPath(text)
    if layout.stored_kind(relative) is None:
        return None
    root = video_dir.resolve()
    try:
        resolved = (root / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_file() or not resolved.is_relative_to(root):
        return None
    if layout.stored_kind(PurePosixPath(resolved.relative_to(root).as_posix())) is None:
        return None
    return resolved


def user_of(request: web.Request) -> User:
    """Who asked (the guard has let them in, and checked the route's role)."""
    user: User = request["user"]
    return user


def session_of(request: web.Request) -> Session | None:
    found: Session | None = request.get("session")
    return found


def csrf_ok(request: web.Request, session: Session, form_value: str | None) -> bool:
    given = request.headers.get(CSRF_HEADER) or form_value or ""
    return bool(given) and auth.same(given, session.csrf)
