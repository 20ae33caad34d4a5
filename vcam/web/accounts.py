"""Users, sessions, API tokens, the access log and the camera switches, in the event database.

Used by the web UI's thread and by `vcam user`, each with a connection of its own (SQLite's WAL
lets a CLI add a user while the daemon runs). Hashing is slow on purpose: callers on an event
loop run login() and set_password() in a worker thread.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vcam.eventlog import connect
from vcam.web import auth

SESSION_IDLE_S = 30 * 86400.0  # a session unused this long is gone
SEEN_EVERY_S = 60.0  # a session's last use is written at most this often


class AccountError(Exception):
    """Said to the person asking: no such user, a password too short, the last admin…"""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created: float

    @property
    def admin(self) -> bool:
        return self.role == auth.ADMIN


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    digest: str
    seen: float


@dataclass(frozen=True)
class Access:
    at: float
    user: str | None
    address: str | None
    action: str
    detail: str | None
    ok: bool


class Accounts:
    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- users ------------------------------------------------------------------------------

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute("SELECT name, role, created FROM users ORDER BY name").fetchall()
        return [User(*row) for row in rows]

    def user(self, name: str) -> User | None:
        with self._lock:
            row = self._db.execute("SELECT name, role, created FROM users WHERE name = ?", (name,)).fetchone()
        return None if row is None else User(*row)

    def add_user(self, name: str, password: str, role: str) -> User:
        if not name or len(name) > 64 or not name.isprintable() or name != name.strip():
            raise AccountError("a user name of 1 to 64 printable characters, without spaces around it")
        if role not in auth.ROLES:
            raise AccountError(f"a role, one of {', '.join(auth.ROLES)}")
        problem = auth.password_problem(password)
        if problem is not None:
            raise AccountError(problem)
        hashed = auth.hash_password(password)
        now = time.time()
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO users (name, password, role, created) VALUES (?, ?, ?, ?)", (name, hashed, role, now)
                )
        except sqlite3.IntegrityError:
            raise AccountError(f"there is already a user {name!r}") from None
        return User(name, role, now)

    def remove_user(self, name: str) -> None:
        """Its sessions and tokens go with it. The last admin stays: nobody could manage users."""
        with self._lock:
            row = self._db.execute("SELECT role FROM users WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise AccountError(f"no user {name!r}")
            admins = self._db.execute("SELECT COUNT(*) FROM users WHERE role = ?", (auth.ADMIN,)).fetchone()[0]
            if row[0] == auth.ADMIN and admins <= 1:
                raise AccountError(f"{name!r} is the last admin: add another admin first")
            self._db.execute("DELETE FROM users WHERE name = ?", (name,))

    def set_password(self, name: str, password: str, *, keep_session: str | None = None) -> None:
        """Every session of the user ends, but the one that changed it (``keep_session``, a digest)."""
        problem = auth.password_problem(password)
        if problem is not None:
            raise AccountError(problem)
        hashed = auth.hash_password(password)
        with self._lock:
            changed = self._db.execute("UPDATE users SET password = ? WHERE name = ?", (hashed, name)).rowcount
            if not changed:
                raise AccountError(f"no user {name!r}")
            self._db.execute("DELETE FROM sessions WHERE user = ? AND digest IS NOT ?", (name, keep_session))

    def ensure_admin(self) -> str | None:
        """On the first start (no user at all) an admin with a random password, returned to be
        said once; None when there are users."""
        with self._lock:
            if self._db.execute("SELECT COUNT(*) FROM users").fetchone()[0]:
                return None
        password = auth.new_password()
        try:
            self.add_user(auth.ADMIN, password, auth.ADMIN)
        except AccountError:  # another process made it meanwhile
            return None
        return password

    def check_password(self, name: str, password: str) -> User | None:
        with self._lock:
            row = self._db.execute("SELECT name, role, created, password FROM users WHERE name = ?", (name,)).fetchone()
        stored = row[3] if row is not None else auth.DUMMY_HASH
        good = auth.verify_password(password, stored)
        return User(row[0], row[1], row[2]) if good and row is not None else None

    # --- sessions -----------------------------------------------------------------------------

    def new_session(self, user: User) -> tuple[str, Session]:
        """(the cookie's token, the session)."""
        token = auth.new_token()
        session = Session(user, auth.new_token(), auth.digest(token), time.time())
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE seen < ?", (time.time() - SESSION_IDLE_S,))
            self._db.execute(
                "INSERT INTO sessions (digest, user, csrf, created, seen) VALUES (?, ?, ?, ?, ?)",
                (session.digest, user.name, session.csrf, session.seen, session.seen),
            )
        return token, session

    def session(self, token: str) -> Session | None:
        digest = auth.digest(token)
        now = time.time()
        with self._lock:
            row = self._db.execute(
                """SELECT u.name, u.role, u.created, s.csrf, s.seen FROM sessions s JOIN users u ON u.name = s.user
                   WHERE s.digest = ?""",
                (digest,),
            ).fetchone()
            if row is None or row[4] < now - SESSION_IDLE_S:
                return None
            if now - row[4] > SEEN_EVERY_S:
                self._db.execute("UPDATE sessions SET seen = ? WHERE digest = ?", (now, digest))
        return Session(User(row[0], row[1], row[2]), row[3], digest, row[4])

    def end_session(self, digest: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE digest = ?", (digest,))

    # --- API tokens ---------------------------------------------------------------------------

    def new_api_token(self, user: str, label: str) -> str:
        """The token, to be shown once; only its digest is kept."""
        if self.user(user) is None:
            raise AccountError(f"no user {user!r}")
        token = auth.new_token()
        with self._lock:
            self._db.execute(
                "INSERT INTO api_tokens (digest, user, label, created) VALUES (?, ?, ?, ?)",
                (auth.digest(token), user, label, time.time()),
            )
        return token

    def api_user(self, token: str) -> User | None:
        digest = auth.digest(token)
        with self._lock:
            row = self._db.execute(
                """SELECT u.name, u.role, u.created, t.used FROM api_tokens t JOIN users u ON u.name = t.user
                   WHERE t.digest = ?""",
                (digest,),
            ).fetchone()
            if row is None:
                return None
            if row[3] is None or time.time() - row[3] > SEEN_EVERY_S:
                self._db.execute("UPDATE api_tokens SET used = ? WHERE digest = ?", (time.time(), digest))
        return User(row[0], row[1], row[2])

    def api_tokens(self) -> list[tuple[str, str, float, float | None]]:
        """(user, label, created, last used) of every token; the tokens themselves are not kept."""
        with self._lock:
            return list(self._db.execute("SELECT user, label, created, used FROM api_tokens ORDER BY created"))

    def revoke_api_tokens(self, user: str, label: str) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM api_tokens WHERE user = ? AND label = ?", (user, label)).rowcount

    # --- what was done --------------------------------------------------------------------------

    def record(
        self, action: str, *, user: str | None, address: str | None, detail: str | None = None, ok: bool = True
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO access_log (at, user, address, action, detail, ok) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), user, address, action, detail, int(ok)),
            )

    def access_log(self, limit: int = 200) -> list[Access]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, user, address, action, detail, ok FROM access_log ORDER BY at DESC, id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [Access(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]

    # --- paired devices (browser cameras) --------------------------------------------------------

    def pair_device(self, camera: str) -> str:
        """The token for a device's cookie, bound to ``camera``; a device paired before is forgotten."""
        token = auth.new_token()
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO devices (digest, camera, created) VALUES (?, ?, ?)",
                (auth.digest(token), camera, time.time()),
            )
        return token

    def device_camera(self, token: str) -> str | None:
        """The camera a device's token is bound to."""
        with self._lock:
            row = self._db.execute("SELECT camera FROM devices WHERE digest = ?", (auth.digest(token),)).fetchone()
        return None if row is None else str(row[0])

    # --- switches -------------------------------------------------------------------------------

    def switches(self) -> dict[tuple[str, str], bool]:
        """(camera, switch) -> on, for the switches set in the UI (they override the settings file)."""
        with self._lock:
            rows = self._db.execute("SELECT camera, name, value FROM switches").fetchall()
        return {(camera, name): bool(value) for camera, name, value in rows}

    def set_switch(self, camera: str, name: str, value: bool, user: str | None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO switches (camera, name, value, changed, user) VALUES (?, ?, ?, ?, ?)",
                (camera, name, int(value), time.time(), user),
            )
