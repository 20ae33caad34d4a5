import io
import json

import pytest

from vcam import logs


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


def test_console_lines_start_with_a_timestamp_and_level() -> None:
    first = emit("console").splitlines()[0]
    date, clock, level, event = first.split()[:4]
    assert len(date) == 10 and len(clock) == 8
    assert (level, event) == ("info", "camera_connected")


def test_json_is_one_object_per_line_masked() -> None:
    lines = emit("json").splitlines()
    records = [json.loads(line) for line in lines]
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
