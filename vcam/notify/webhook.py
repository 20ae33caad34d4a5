"""Webhooks: a POST of each event's JSON to each URL, one subscriber (and thread) per URL, so a
receiver that hangs or fails holds up only its own queue.

A delivery that fails (no answer within the timeout, a 5xx or 429) is tried again after a wait
that doubles up to RETRY_MAX_S, at most ATTEMPTS times, then dropped and counted; a 4xx other than
429 is not tried again. Failing and working again are each said once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from vcam import __version__, bus
from vcam.notify import messages
from vcam.notify.messages import Mask

TIMEOUT_S = 5.0
ATTEMPTS = 4
RETRY_MIN_S, RETRY_MAX_S = 2.0, 60.0
SIGNATURE_HEADER = "X-Vcam-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retry_waits() -> list[float]:
    """The waits before each attempt after the first: 2, 4, 8 … capped."""
    return [min(RETRY_MAX_S, RETRY_MIN_S * 2**n) for n in range(ATTEMPTS - 1)]


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """The URL without user:password, and the Basic authorization header they stand for."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return urlunsplit(parts._replace(netloc=netloc)), {"Authorization": "Basic " + base64.b64encode(token).decode()}


def shown_url(url: str) -> str:
    """What a log line says of a webhook: scheme, host and port; its path may hold a token."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


class Retry(Exception):
    """A failure worth trying again."""


class WebhookNotifier:
    def __init__(
        self, url: str, secret: str, video_dir: Path, log: Any, *, mask: Mask, stopping: threading.Event
    ) -> None:
        self.url, self.headers = split_credentials(url)
        self.secret = secret
        self.video_dir = video_dir
        self.name = shown_url(url)
        self.log = log.bind(notifier="webhook", webhook=self.name)
        self.mask = mask
        self.stopping = stopping  # at stop: one attempt each, no waiting
        self.sent = 0
        self.failed = 0  # deliveries given up on
        self._failing = False
        self.sleep: Callable[[float], bool] = stopping.wait

    def handle(self, event: bus.Event) -> None:
        message = messages.describe(event, self.video_dir, self.mask)
        if message is None:
            return
        body = json.dumps(message).encode()
        waits = [0.0, *retry_waits()]
        for attempt, wait in enumerate(waits, 1):
            if wait and (self.stopping.is_set() or self.sleep(wait)):
                break
            try:
                self._post(body, message["type"])
            except Retry as exc:
                self._say_failing(str(exc), attempt)
                continue
            except ValueError as exc:  # refused for good (4xx): no use trying again
                self._say_failing(str(exc), attempt)
                break
            self.sent += 1
            if self._failing:
                self._failing = False
                self.log.info("webhook_working", failed_so_far=self.failed)
            return
        self.failed += 1

    def _post(self, body: bytes, kind: str) -> None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"vcam/{__version__}",
            "X-Vcam-Event": kind,
            **self.headers,
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, body)
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                response.read(65536)
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise Retry(f"HTTP {exc.code}") from None
            raise ValueError(f"HTTP {exc.code} (not tried again)") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise Retry(self.mask(str(reason) or type(reason).__name__)) from None

    def _say_failing(self, error: str, attempt: int) -> None:
        if not self._failing:
            self._failing = True
            self.log.error("webhook_failing", error=error, attempt=attempt, retries=ATTEMPTS - 1)
