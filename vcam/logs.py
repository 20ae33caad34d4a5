"""structlog set-up: one event per line, key=value; journal, console or JSON; passwords masked."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import datetime
from typing import Any, TextIO

import structlog

from vcam import camera_url

# syslog priorities, so `journalctl -p warning` filters our lines.
_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2, "exception": 3}
_LEVEL_NUMBER = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def choose_format(requested: str, environ: Mapping[str, str]) -> str:
    """``auto`` means journal under systemd (it sets JOURNAL_STREAM), console anywhere else."""
    if requested != "auto":
        return requested
    return "journal" if environ.get("JOURNAL_STREAM") else "console"


def local_iso(epoch: float) -> str:
    """A moment as local time with its UTC offset: unambiguous in the hour DST repeats."""
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


class _Timestamp:
    """Local time with the UTC offset (structlog's own stamper leaves the offset out)."""

    def __init__(self, *, sep: str, timespec: str) -> None:
        self.sep, self.timespec = sep, timespec

    def __call__(self, _: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event["timestamp"] = datetime.now().astimezone().isoformat(sep=self.sep, timespec=self.timespec)
        return event


class _MaskSecrets:
    """Last line of defence: no password leaves the process, whatever a caller logged."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.mask = camera_url.Masker(secrets)

    def __call__(self, _: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = self.mask(value)
            elif isinstance(value, BaseException):
                event[key] = self.mask(f"{type(value).__name__}: {value}")
        return event


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value) if not isinstance(value, (int, float)) else str(value)
    if text == "" or any(c in text for c in ' "=\n\t'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
    return text


class KeyValueLine:
    """``[time] [level] event k=v …`` on one line; a traceback follows on lines with the same prefix."""

    def __init__(self, *, journal: bool) -> None:
        self.journal = journal

    def __call__(self, _: Any, method: str, event: MutableMapping[str, Any]) -> str:
        level = event.pop("level", method)
        timestamp = event.pop("timestamp", None)
        message = str(event.pop("event", ""))
        trace = event.pop("exception", None)
        parts = [message] + [f"{k}={_value(v)}" for k, v in event.items()]
        prefix = f"<{_PRIORITY.get(level, 6)}>" if self.journal else f"{timestamp} {level:<7} "
        line = prefix + " ".join(parts)
        if trace:
            line += "".join(f"\n{prefix}  {t}" for t in str(trace).rstrip().splitlines())
        return line


def configure(level: str, fmt: str, stream: TextIO | None = None, secrets: Iterable[str] = ()) -> None:
    """Configure once, at start-up: every choice is made here, not per log call. ``secrets`` are
    passwords to mask wherever they appear (see camera_url.secrets)."""
    processors: list[Any] = [structlog.processors.add_log_level]
    mask = _MaskSecrets(secrets)
    if fmt == "json":
        processors += [_Timestamp(sep="T", timespec="milliseconds"), structlog.processors.format_exc_info, mask]
        processors.append(structlog.processors.JSONRenderer())
    else:
        if fmt == "console":
            processors.append(_Timestamp(sep=" ", timespec="seconds"))
        processors += [structlog.processors.format_exc_info, mask, KeyValueLine(journal=fmt == "journal")]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVEL_NUMBER[level]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def get(**context: Any) -> Any:
    """A bound logger; pipelines get one with ``camera=…`` since context variables do not follow threads."""
    return structlog.get_logger().bind(**context)
