"""Camera URLs: what kind of source a URL names, and how to show it without its password."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEMO = "demo"
NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}

# user:password@ inside any scheme://… text, so secrets are caught even inside error messages.
_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<password>[^@/\s]*)@")


def mask(text: str) -> str:
    """Replace every password in URLs inside ``text`` with ``***``."""
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


def scheme_of(url: str) -> str:
    """``demo``, a network scheme, ``file`` for a local path, or the unknown scheme as written."""
    if url == DEMO:
        return DEMO
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
