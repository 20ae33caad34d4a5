"""The web UI's rules without a server: password hashes, the login limit, the client address
behind proxies, the files a URL may name, and the accounts in a real SQLite database."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from vcam import layout
from vcam.web import auth
from vcam.web.accounts import AccountError, Accounts
from vcam.web.security import client_address, safe_file

FAST = 2**10  # the rules are the same with a cheap scrypt


def test_a_password_hash_checks_only_its_password() -> None:
    stored = auth.hash_password("correct horse", n=FAST)
    assert stored.startswith(f"scrypt${FAST}$8$1$")
    assert auth.verify_password("correct horse", stored)
    assert not auth.verify_password("correct hors", stored)
    assert not auth.verify_password("correct horse", stored.replace("scrypt", "md5"))
    assert not auth.verify_password("x", "garbage")
    assert auth.hash_password("correct horse", n=FAST) != stored  # salted


def test_the_login_limit_counts_failures_per_address_within_the_window() -> None:
    limiter = auth.LoginLimiter(attempts=3, window=60)
    for second in range(3):
        assert limiter.wait("10.0.0.1", second) == 0
        limiter.failed("10.0.0.1", second)
    assert limiter.wait("10.0.0.1", 3) == pytest.approx(57)  # until the first failure leaves the window
    assert limiter.wait("10.0.0.2", 3) == 0  # another address is not held back
    assert limiter.wait("10.0.0.1", 60.5) == 0
    limiter.failed("10.0.0.3", 0)
    limiter.succeeded("10.0.0.3")
    assert limiter.wait("10.0.0.3", 1) == 0


def test_the_limit_keeps_bounded_memory_under_a_flood_of_addresses() -> None:
    limiter = auth.LoginLimiter(attempts=3, window=60, max_addresses=100)
    for n in range(1000):
        limiter.failed(f"10.0.{n // 256}.{n % 256}", n / 100)
    assert len(limiter._failures) <= 100


def test_forwarded_addresses_are_believed_only_from_trusted_proxies() -> None:
    trusted = ("127.0.0.1", "10.0.0.0/8")
    assert client_address("192.168.1.5", "6.6.6.6", trusted) == "192.168.1.5"  # not a proxy: header ignored
    assert client_address("127.0.0.1", "192.168.1.5", trusted) == "192.168.1.5"
    # a client cannot hide behind a forged first entry: the nearest untrusted hop counts
    assert client_address("127.0.0.1", "6.6.6.6, 192.168.1.5, 10.1.2.3", trusted) == "192.168.1.5"
    assert client_address("127.0.0.1", "192.168.1.5", ()) == "127.0.0.1"


@pytest.fixture
def video(tmp_path: Path) -> Path:
    root = tmp_path / "video"
    (root / "front" / "2026-12-03").mkdir(parents=True)
    (root / "front" / "2026-12-03" / "front_20261203_101010.mp4").write_bytes(b"clip")
    (root / "front" / "snapshots" / "2026-12-03").mkdir(parents=True)
    (root / "front" / "snapshots" / "2026-12-03" / "10_10_10.jpg").write_bytes(b"jpg")
    (root / "events.sqlite3").write_bytes(b"the users' password hashes")
    (root / ".tmp" / "front").mkdir(parents=True)
    (root / ".tmp" / "front" / "front_20261203_101111.1.2.mp4").write_bytes(b"being written")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "x.mp4").write_bytes(b"outside")
    return root


def test_only_clips_and_snapshots_inside_video_dir_are_served(video: Path, tmp_path: Path) -> None:
    assert safe_file(video, "front/2026-12-03/front_20261203_101010.mp4") is not None
    assert safe_file(video, "front/snapshots/2026-12-03/10_10_10.jpg") is not None
    refused = [
        "events.sqlite3",
        ".tmp/front/front_20261203_101111.1.2.mp4",
        "../secret/x.mp4",
        "front/../../secret/x.mp4",
        "front/2026-12-03/../../../secret/x.mp4",
        "%2e%2e/secret/x.mp4",
        "front/%2e%2e/%2e%2e/secret/x.mp4",
        "..%2fsecret%2fx.mp4",
        str(tmp_path / "secret" / "x.mp4"),
        "/etc/passwd",
        "front\\..\\..\\secret\\x.mp4",
        "front/2026-12-03/front_20261203_101010.mp4\x00.jpg",
        "front/2026-12-03/missing.mp4",
        "front/2026-12-03",
        "",
    ]
    for text in refused:
        assert safe_file(video, text) is None, text


def test_symlinks_cannot_lead_out_of_video_dir_or_to_the_database(video: Path, tmp_path: Path) -> None:
    day = video / "front" / "2026-12-04"
    day.mkdir()
    os.symlink(tmp_path / "secret" / "x.mp4", day / "front_20261204_000000.mp4")
    os.symlink(video / "events.sqlite3", day / "front_20261204_000001.mp4")
    os.symlink(tmp_path / "secret", video / "front" / "2026-12-05")
    os.symlink(video / "front" / "2026-12-03" / "front_20261203_101010.mp4", day / "front_20261204_000002.mp4")
    assert safe_file(video, "front/2026-12-04/front_20261204_000000.mp4") is None
    assert safe_file(video, "front/2026-12-04/front_20261204_000001.mp4") is None
    assert safe_file(video, "front/2026-12-05/x.mp4") is None
    assert safe_file(video, "front/2026-12-04/front_20261204_000002.mp4") is not None  # a clip, still inside


def test_stored_kinds_are_the_layout_of_video_dir() -> None:
    assert layout.stored_kind(PurePosixPath("front/2026-12-03/front_20261203_101010.mp4")) == "clip"
    assert layout.stored_kind(PurePosixPath("front/events/2026-12-03/10_10_10.jpg")) == "event"
    assert layout.stored_kind(PurePosixPath("front/snapshots/2026-12-03/10_10_10.jpg")) == "snapshot"
    for text in ("events.sqlite3", "vcam-web.key", "front/x.mp4", ".tmp/front/a.mp4", "front/.hidden/a.mp4"):
        assert layout.stored_kind(PurePosixPath(text)) is None


@pytest.fixture
def accounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Accounts:
    monkeypatch.setattr(auth, "SCRYPT_N", FAST)
    return Accounts(tmp_path / "events.sqlite3")


def test_the_first_start_makes_one_admin_and_says_its_password_once(accounts: Accounts) -> None:
    password = accounts.ensure_admin()
    assert password is not None and len(password) == 16
    assert accounts.ensure_admin() is None
    user = accounts.check_password("admin", password)
    assert user is not None and user.admin
    assert accounts.check_password("admin", password + "x") is None
    assert accounts.check_password("nobody", password) is None


def test_a_password_change_ends_the_other_sessions(accounts: Accounts) -> None:
    user = accounts.add_user("ann", "first password", auth.VIEWER)
    kept_token, kept = accounts.new_session(user)
    other_token, _ = accounts.new_session(user)
    accounts.set_password("ann", "second password", keep_session=kept.digest)
    assert accounts.session(kept_token) is not None
    assert accounts.session(other_token) is None
    assert accounts.check_password("ann", "first password") is None
    session = accounts.session(kept_token)
    assert session is not None
    accounts.end_session(session.digest)
    assert accounts.session(kept_token) is None


def test_users_tokens_and_their_limits(accounts: Accounts) -> None:
    accounts.add_user("boss", "boss password", auth.ADMIN)
    with pytest.raises(AccountError, match="already"):
        accounts.add_user("boss", "boss password", auth.ADMIN)
    with pytest.raises(AccountError, match="at least 8"):
        accounts.add_user("short", "1234567", auth.VIEWER)
    with pytest.raises(AccountError, match="role"):
        accounts.add_user("odd", "long enough", "root")
    with pytest.raises(AccountError, match="last admin"):
        accounts.remove_user("boss")
    token = accounts.new_api_token("boss", "home-assistant")
    found = accounts.api_user(token)
    assert found is not None and found.name == "boss"
    assert accounts.api_user(token + "x") is None
    token_s, _ = accounts.new_session(found)
    accounts.add_user("deputy", "deputy password", auth.ADMIN)
    accounts.remove_user("boss")  # its sessions and tokens go with it
    assert accounts.api_user(token) is None
    assert accounts.session(token_s) is None
    assert [u.name for u in accounts.users()] == ["deputy"]


def test_tokens_are_kept_only_as_digests(accounts: Accounts, tmp_path: Path) -> None:
    user = accounts.add_user("ann", "first password", auth.VIEWER)
    session_token, _ = accounts.new_session(user)
    api_token = accounts.new_api_token("ann", "script")
    accounts.close()
    data = b"".join(p.read_bytes() for p in tmp_path.glob("events.sqlite3*"))
    assert session_token.encode() not in data and api_token.encode() not in data
    assert b"first password" not in data


def test_switches_and_the_access_log_survive_a_reopen(accounts: Accounts, tmp_path: Path) -> None:
    accounts.set_switch("front", "record", False, "ann")
    accounts.record("switch", user="ann", address="10.0.0.2", detail="front record off")
    accounts.close()
    again = Accounts(tmp_path / "events.sqlite3")
    assert again.switches() == {("front", "record"): False}
    (entry,) = again.access_log()
    assert (entry.user, entry.address, entry.action, entry.ok) == ("ann", "10.0.0.2", "switch", True)


def test_a_pairing_link_works_once_within_ten_minutes_for_its_camera() -> None:
    links = auth.Pairings()
    token, expires = links.issue("hall", now=1000.0)
    assert expires == 1000.0 + 600
    assert links.redeem(token + "x", now=1001.0) is None
    assert links.redeem(token, now=1001.0) == "hall"
    assert links.redeem(token, now=1002.0) is None  # used
    late, _ = links.issue("hall", now=2000.0)
    assert links.redeem(late, now=2000.0 + 601) is None  # expired
    old, _ = links.issue("yard", now=3000.0)
    links.issue("yard", now=3000.0 + 700)  # issuing forgets the expired ones
    assert len(links._links) == 1 and links.redeem(old, now=3001.0) is None


def test_a_paired_device_is_bound_to_its_camera_and_a_new_pairing_forgets_the_old(accounts: Accounts) -> None:
    first = accounts.pair_device("hall")
    assert accounts.device_camera(first) == "hall"
    second = accounts.pair_device("hall")
    assert accounts.device_camera(second) == "hall" and accounts.device_camera(first) is None
    assert accounts.device_camera("not-a-token") is None
