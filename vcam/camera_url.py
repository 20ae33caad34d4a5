"""Camera URLs: what kind of source a URL names, and how to show it without its password."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEMO = "demo"
BROWSER = "browser"  # a phone's or laptop's browser streaming to the web UI: "browser" or "browser:<label>"
NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}

# A URL inside any text: scheme:// and everything up to whitespace or a quote. The user name
# ends at the first ':' and the password at the *last* '@' of the URL, so a password holding
# '@', '/', '#' or ':' is masked whole (a path with an '@' in it is then masked too: too much
# hidden is safe, too little is not).
_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<rest>[^\s'\"<>`]*)")
_USER = re.compile(r"[^:@/?#\s]*")


def _user_password(rest: str) -> tuple[str, str, str] | None:
    """(user, password, the rest from the last '@' on) of what follows ``scheme://``; None where
    there is no ``user:password@``. The one reading of credentials that masking relies on."""
    user = _USER.match(rest)
    assert user is not None  # it matches the empty string at least
    colon, at = user.end(), rest.rfind("@")
    if colon >= len(rest) or rest[colon] != ":" or at < colon:
        return None
    return user[0], rest[colon + 1 : at], rest[at:]


def mask(text: str) -> str:
    """Replace every password in URLs inside ``text`` with ``***``."""
    return _URL.sub(_mask_one, text)


def _mask_one(match: re.Match[str]) -> str:
    found = _user_password(match["rest"])
    if found is None:
        return match[0]
    user, _, rest = found
    return f"{match['scheme']}{user}:***{rest}"


def has_credentials(url: str) -> bool:
    """Does the URL carry a user name (before an '@' in its host part)?"""
    rest = url.split("://", 1)[-1]
    return "@" in re.split(r"[/?#]", rest, maxsplit=1)[0] or _user_password(rest) is not None


MIN_SECRET_CHARS = 4  # a shorter password masked wherever it appears would garble every log line


def secrets(url: str) -> tuple[str, ...]:
    """The password of a URL as written and percent-decoded, for masking it wherever it shows up
    (also where no URL shape is left around it, as in a library's error message)."""
    match = _URL.match(url.strip())
    credentials = None if match is None else _user_password(match["rest"])
    if credentials is None:
        return ()
    password = credentials[1]
    found = {password, unquote(password)}
    return tuple(sorted(p for p in found if len(p) >= MIN_SECRET_CHARS))


class Masker:
    """Passwords out of any text: URLs by their shape, the configured passwords wherever they
    appear whole. The logs, and everything the notifiers send out, go through one."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = mask(text)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def ffmpeg_authority_problem(url: str) -> str | None:
    """FFmpeg ends a URL's host part at the first '/', '?' or '#', and takes the last '@' before
    that as the end of user:password. A password holding one of those three characters must be
    percent-encoded, or FFmpeg would dial a host made of the password's tail."""
    if "://" not in url:
        return None
    rest = url.split("://", 1)[1]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if rest.rfind("@") < len(authority):
        return None  # no '@' past the host part: FFmpeg reads it as written
    port = authority.rpartition(":")[2]
    if "@" not in authority and (":" not in authority or port.isdigit()):
        return None  # no user:password before it: an '@' in the path
    return (
        "a password containing '/', '?' or '#' percent-encoded (%2F, %3F, %23; '@' and ':' may stay), "
        "like rtsp://admin:p%2Fss@host/path"
    )


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


def scheme_of(url: str) -> str:
    """``demo``, a network scheme, ``file`` for a local path, or the unknown scheme as written."""
    if url == DEMO:
        return DEMO
    if url == BROWSER or url.startswith(BROWSER + ":"):
        return BROWSER
    if "://" not in url:
        return "file"
    return url.split("://", 1)[0].lower()


def endpoint(url: str) -> Endpoint | None:
    """Host and TCP port of a network camera URL, None for demo and files."""
    scheme = scheme_of(url)
    if scheme not in NETWORK_SCHEMES:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return Endpoint(parts.hostname, port or DEFAULT_PORTS[scheme])
