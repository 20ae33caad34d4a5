"""Passwords, tokens and the login rate limit: pure rules, no I/O.

Passwords are hashed with scrypt from the standard library (no wheel to build on a 32-bit Pi);
its parameters are stored with each hash, so they can be raised later without locking anyone
out. Session and API tokens are random; only their SHA-256 is stored, so a copied database
opens no session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import deque
from dataclasses import dataclass, field

ADMIN = "admin"
VIEWER = "viewer"
ROLES = (ADMIN, VIEWER)

SCRYPT_N = 2**15  # 32 MiB, about 0.3 s on a 2-core x86 and a second on a Pi 4: a guess costs that much
SCRYPT_R = 8
SCRYPT_P = 1
_MAXMEM = 2**26

MIN_PASSWORD_CHARS = 8
TOKEN_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int | None = None) -> str:
    n = n or SCRYPT_N
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        found = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), maxmem=_MAXMEM, dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(found, expected)


# Checked against when the user does not exist, so an unknown name takes as long as a wrong password.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_CHARS:
        return f"a password of at least {MIN_PASSWORD_CHARS} characters"
    return None


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(token: str) -> str:
    """What is stored of a session or API token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    """The first admin's: 16 characters a person can type from the log."""
    alphabet = "abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass
class LoginLimiter:
    """At most ``attempts`` failed logins per address within ``window`` seconds; past that the
    address waits until its oldest failure leaves the window. A good login clears its record."""

    attempts: int = 5
    window: float = 300.0
    max_addresses: int = 10_000  # a flood from many addresses cannot grow memory without bound
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def wait(self, address: str, now: float) -> float:
        """Seconds this address must wait before it may try again (0: it may)."""
        failures = self._recent(address, now)
        if len(failures) < self.attempts:
            return 0.0
        return max(0.0, failures[0] + self.window - now)

    def failed(self, address: str, now: float) -> None:
        if address not in self._failures and len(self._failures) >= self.max_addresses:
            self._forget_old(now)
            if len(self._failures) >= self.max_addresses:
                self._failures.pop(next(iter(self._failures)))
        self._recent(address, now).append(now)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(address, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def _forget_old(self, now: float) -> None:
        for address in [a for a, f in self._failures.items() if not f or f[-1] <= now - self.window]:
            del self._failures[address]


PAIRING_S = 600.0  # a pairing link works this long, once


@dataclass
class Pairings:
    """One-time links that make a device a browser camera: each bound to one camera, used once,
    gone after PAIRING_S. Kept in memory: a restart ends the links not yet used."""

    lifetime: float = PAIRING_S
    _links: dict[str, tuple[str, float]] = field(default_factory=dict)  # digest -> (camera, expires)

    def issue(self, camera: str, now: float) -> tuple[str, float]:
        """(the link's token, when it expires)."""
        self._links = {d: link for d, link in self._links.items() if link[1] > now}
        token = new_token()
        self._links[digest(token)] = (camera, now + self.lifetime)
        return token, now + self.lifetime

    def redeem(self, token: str, now: float) -> str | None:
        """The camera, the first time within its lifetime; None after."""
        link = self._links.pop(digest(token), None)
        if link is None or link[1] <= now:
            return None
        return link[0]
