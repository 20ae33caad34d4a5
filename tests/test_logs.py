import io
import json
import re
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from vcam import camera_url, logs


def emit(fmt: str, level: str = "info") -> str:
    out = io.StringIO()
    logs.configure(level, fmt, out)
    log = logs.get(camera="front")
    log.info("camera_connected", url="rtsp://admin:hunter2@cam/x", note="two words", fps=12.5)
    log.warning("camera_lost", error=ValueError("open rtsp://a:secret@c/d failed"))
    log.debug("noise")
    try:
        raise RuntimeError("rtsp://a:secret@c/d")
    except RuntimeError:
        log.exception("worker_error")
    return out.getvalue()


def test_journal_lines_carry_syslog_priority_and_no_timestamp() -> None:
    lines = emit("journal").splitlines()
    assert lines[0] == '<6>camera_connected camera=front url=rtsp://admin:***@cam/x note="two words" fps=12.5'
    assert lines[1] == '<4>camera_lost camera=front error="ValueError: open rtsp://a:***@c/d failed"'
    assert lines[2] == "<3>worker_error camera=front"
    assert all(line.startswith("<3>") for line in lines[2:])  # the traceback keeps the error priority
    assert "secret" not in "\n".join(lines) and "hunter2" not in "\n".join(lines)


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time in a zone with an offset and DST, as `docker run -e TZ=Europe/Berlin` gives."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_console_lines_start_with_a_timestamp_with_its_utc_offset_and_level(berlin: None) -> None:
    first = emit("console").splitlines()[0]
    date, clock, level, event = first.split()[:4]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", date) and re.fullmatch(r"\d\d:\d\d:\d\d\+0[12]:00", clock)
    assert (level, event) == ("info", "camera_connected")


def test_local_iso_carries_the_offset_and_tells_the_repeated_hour_apart(berlin: None) -> None:
    # 2026-10-25 02:30 happens twice in Berlin: first in summer time (+02:00), then in winter time
    first, second = 1792888200.0, 1792888200.0 + 3600
    assert logs.local_iso(first) == "2026-10-25T02:30:00+02:00"
    assert logs.local_iso(second) == "2026-10-25T02:30:00+01:00"


@pytest.mark.parametrize("password", ["p@ss/w#:rd", "with space", "quote'and\"", "ünïcødé"])
def test_configured_passwords_are_masked_wherever_they_appear(password: str) -> None:
    out = io.StringIO()
    url = f"rtsp://admin:{quote(password, safe='')}@cam/x"
    logs.configure("info", "journal", out, secrets=camera_url.secrets(url))
    logs.get().warning("camera_unavailable", error=f"the library said: bad auth {password} for {url}")
    line = out.getvalue()
    assert password not in line and quote(password, safe="") not in line
    assert "admin:***@cam/x" in line


def test_json_is_one_object_per_line_masked(berlin: None) -> None:
    lines = emit("json").splitlines()
    records = [json.loads(line) for line in lines]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0[12]:00", records[0]["timestamp"])
    assert [r["event"] for r in records] == ["camera_connected", "camera_lost", "worker_error"]
    assert records[0]["url"] == "rtsp://admin:***@cam/x"
    assert "RuntimeError: rtsp://a:***@c/d" in records[2]["exception"]
    assert "secret" not in "".join(lines)


def test_level_filters_debug() -> None:
    assert "noise" in emit("journal", level="debug")
    assert "noise" not in emit("journal", level="info")


@pytest.mark.parametrize(
    ("requested", "environ", "chosen"),
    [
        ("auto", {"JOURNAL_STREAM": "8:12345"}, "journal"),
        ("auto", {}, "console"),
        ("json", {"JOURNAL_STREAM": "8:12345"}, "json"),
    ],
)
def test_auto_format_follows_systemd(requested: str, environ: dict[str, str], chosen: str) -> None:
    assert logs.choose_format(requested, environ) == chosen
