"""A plain HTTP client for the web UI's tests: it follows no redirect and keeps the session cookie
and the page's CSRF token."""

from __future__ import annotations

import http.client
import json
import re
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Client:
    """A plain HTTP client that follows no redirect and keeps the session cookie."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            answer = connection.getresponse()
            data = answer.read()
            for value in answer.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(value).items():
                    if morsel.value:
                        self.cookies[name] = morsel.value
                    else:
                        self.cookies.pop(name, None)
            return Reply(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data)
        finally:
            connection.close()

    def form(self, path: str, fields: dict[str, str], headers: dict[str, str] | None = None) -> Reply:
        body = urlencode(fields).encode()
        return self.request(
            "POST", path, body, {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        )

    def login(self, user: str, password: str, headers: dict[str, str] | None = None) -> Reply:
        reply = self.form("/login", {"user": user, "password": password, "next": "/"}, headers)
        if reply.status == 303:
            page = self.request("GET", "/")
            found = re.search(rb'<meta name="csrf" content="([^"]+)"', page.body)
            assert found is not None
            self.csrf = found[1].decode()
        return reply
