"""Real parts the notifier tests talk to, each on 127.0.0.1: Debian's mosquitto (with a password
file), a paho subscriber that records what it sees, Debian's prometheus, an aiosmtpd sink and
webhook receivers that answer, fail or hang."""

from __future__ import annotations

import contextlib
import getpass
import json
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from aiosmtpd.controller import Controller
from conftest import free_port, wait_until
from paho.mqtt.enums import CallbackAPIVersion

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
PROMETHEUS = "/usr/bin/prometheus"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Mosquitto:
    """The broker, which tests kill and start again on the same port."""

    folder: Path
    user: str
    password: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Mosquitto:
        passwords = self.folder / "passwords"
        if not passwords.exists():
            subprocess.run([MOSQUITTO_PASSWD, "-b", "-c", str(passwords), self.user, self.password], check=True)
            passwords.chmod(0o600)
        conf = self.folder / "mosquitto.conf"
        # as root it would switch to the mosquitto user, who cannot read pytest's private folders
        user = f"user {getpass.getuser()}\n"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
            f"persistence false\nlog_dest stderr\n{user}"
        )
        with open(self.folder / "mosquitto.log", "ab") as log:
            self.process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log)
        if not wait_until(lambda: _port_open(self.port), 10):
            self.kill()
            raise RuntimeError("mosquitto did not start: " + (self.folder / "mosquitto.log").read_text())
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def url(self, password: str | None = None) -> str:
        quoted = urllib.parse.quote(password or self.password, safe="")
        return f"mqtt://{self.user}:{quoted}@127.0.0.1:{self.port}"


@dataclass
class Seen:
    at: float
    topic: str
    payload: bytes
    retained: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class Watcher:
    """A paho client subscribed to topics, keeping every message with the time it came."""

    def __init__(self, broker: Mosquitto, *topics: str) -> None:
        self.seen: list[Seen] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watcher-{time.monotonic_ns()}")
        self.client.username_pw_set(broker.user, broker.password)
        self.client.on_message = lambda _c, _u, m: self.seen.append(
            Seen(time.monotonic(), m.topic, bytes(m.payload), bool(m.retain))
        )
        connected = threading.Event()

        def on_connect(client: mqtt.Client, *_: Any) -> None:
            client.subscribe([(t, 1) for t in topics])
            connected.set()

        self.client.on_connect = on_connect
        self.client.connect("127.0.0.1", broker.port, keepalive=10)
        self.client.loop_start()
        assert connected.wait(10), "the watcher could not connect to mosquitto"

    def on(self, topic: str, since: float = 0.0) -> list[Seen]:
        return [s for s in list(self.seen) if s.topic == topic and s.at >= since]

    def last(self, topic: str) -> Seen | None:
        found = self.on(topic)
        return found[-1] if found else None

    def wait(self, topic: str, payload: bytes | None = None, timeout: float = 20, since: float = 0.0) -> Seen:
        def found() -> Seen | None:
            return next((s for s in self.on(topic, since) if payload is None or s.payload == payload), None)

        seen: Seen | None = wait_until(found, timeout)
        assert seen is not None, f"nothing on {topic} ({payload!r}) within {timeout} s; saw {self.topics()}"
        return seen

    def topics(self) -> list[str]:
        return sorted({s.topic for s in self.seen})

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained(broker: Mosquitto, topic: str, wait_s: float = 1.5) -> dict[str, bytes]:
    """What the broker holds retained under a topic filter, as a new subscriber gets it."""
    watcher = Watcher(broker, topic)
    time.sleep(wait_s)
    watcher.close()
    return {s.topic: s.payload for s in watcher.seen if s.retained}


# --- webhooks ----------------------------------------------------------------------------------


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """An HTTP server that answers POSTs with ``status``, or never answers (``hang``)."""

    def __init__(self, status: int = 200, hang: bool = False) -> None:
        self.received: list[Received] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.received.append(Received(time.monotonic(), dict(self.headers.items()), body))
                if hang:
                    outer.release.wait(120)
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/secret-token"

    def kinds(self) -> list[str]:
        return [json.loads(r.body)["type"] for r in list(self.received)]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# --- e-mail ----------------------------------------------------------------------------------


class SmtpSink:
    """aiosmtpd in its thread, keeping each message it is handed."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, Message]] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.messages.append((time.monotonic(), message_from_bytes(envelope.content)))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for _, m in list(self.messages)]

    def close(self) -> None:
        self.controller.stop()


# --- prometheus --------------------------------------------------------------------------------


@contextlib.contextmanager
def prometheus(folder: Path, target: str) -> Iterator[str]:
    """Debian's prometheus scraping ``target`` (host:port) every second; yields its base URL."""
    port = free_port()
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: vcam\n    static_configs:\n      - targets: ['{target}']\n"
    )
    with open(folder / "prometheus.log", "wb") as log:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=log,
        )
    try:
        if not wait_until(lambda: _port_open(port), 30):
            raise RuntimeError("prometheus did not start: " + (folder / "prometheus.log").read_text()[-2000:])
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(15)


def query(base: str, expression: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=5) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result
