"""Notifications and metrics against the real parts: Debian's mosquitto with a password file,
webhook receivers that work, fail and hang, an aiosmtpd sink, command hooks, and Debian's
prometheus scraping the daemon; the camera is gst-rtsp-server (or the demo camera)."""

from __future__ import annotations

import hashlib
import hmac
import json
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Daemon, RtspServer, _require, free_port, wait_until
from notify_parts import (
    MOSQUITTO,
    PROMETHEUS,
    Mosquitto,
    SmtpSink,
    Watcher,
    WebhookReceiver,
    prometheus,
    query,
    retained,
)

from vcam.notify import mqtt

pytestmark = pytest.mark.slow

PASSWORD = "p@ss:w/rd#1 é"  # every character a URL parser trips on
WEBHOOK_SECRET = "whsec-test-1234"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    _require(Path(MOSQUITTO).exists(), "mosquitto is not installed")
    folder = tmp_path / "mosquitto"
    folder.mkdir()
    server = Mosquitto(folder, "vcam", PASSWORD).start()
    yield server
    server.kill()


def hook(script: str) -> str:
    """A hook command line: this Python running ``script`` (argv, no shell)."""
    return shlex.join([sys.executable, "-c", script])


def test_one_event_told_everywhere(
    broker: Mosquitto,
    rtsp_server: Callable[..., RtspServer],
    make_clip: Callable[..., Path],
    daemon: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    """One motion event from a real RTSP camera, seen by MQTT (with Home Assistant discovery), three
    webhooks (one fine, one failing, one hanging), e-mail, hooks and prometheus; then the daemon is
    killed and the broker says offline."""
    _require(Path(PROMETHEUS).exists(), "prometheus is not installed")
    camera = rtsp_server(clip=make_clip(seconds=60, onset=5))
    watcher = Watcher(broker, "vcam/#", "homeassistant/#")
    fine, failing, hanging = WebhookReceiver(), WebhookReceiver(status=500), WebhookReceiver(hang=True)
    sink = SmtpSink()
    hooks_out = tmp_path / "hooks.jsonl"
    record_env = (
        "import os, json; "
        f"open({str(hooks_out)!r}, 'a').write(json.dumps({{k: v for k, v in os.environ.items()"
        " if k.startswith(('VCAM_', 'MQTT', 'RTSP'))}) + '\\n')"
    )
    metrics_port = free_port()
    with prometheus(tmp_path, f"127.0.0.1:{metrics_port}") as prom:
        vcam = daemon(
            RTSP_URL=camera.url,
            CAMERA_NAME="front",
            CLIP_SECONDS="8",
            PRE_SECONDS="2",
            MOTION_POST_SECONDS="1",
            SNAPSHOT_INTERVAL="0",
            MQTT_URL=broker.url(),
            WEBHOOK_URLS=f"{hanging.url} {fine.url} {failing.url}",
            WEBHOOK_SECRET=WEBHOOK_SECRET,
            SMTP_URL=f"smtp://127.0.0.1:{sink.port}",
            ALERT_EMAIL_TO="owner@example.com",
            ALERT_EMAIL_FROM="vcam@example.com",
            ALERT_ON_MOTION="on",
            ON_MOTION_START=hook("import time; print('slow hook'); time.sleep(60)"),
            ON_CLIP_SAVED=hook(record_env),
            HOOK_TIMEOUT="1",
            METRICS_ADDR=f"127.0.0.1:{metrics_port}",
        )
        try:
            started, on_at = check_mqtt(broker, watcher, vcam, tmp_path / "video")
            check_webhooks(vcam, fine=fine, failing=failing, hanging=hanging, start=started, on_at=on_at)
            check_mail(sink)
            check_hooks(vcam, hooks_out)
            check_prometheus(prom, metrics_port)

            # no password anywhere it could leak
            assert "p@ss" not in vcam.output() and "rd#1" not in vcam.output()
            assert not any(b"p@ss" in s.payload for s in watcher.seen)

            # killed: the broker says offline for it (its last will)
            killed = time.monotonic()
            assert vcam.process is not None
            vcam.process.send_signal(signal.SIGKILL)
            offline = watcher.wait("vcam/available", b"offline", since=killed, timeout=45)
            print(f"\navailable=offline {offline.at - killed:.2f} s after SIGKILL")
            assert retained(broker, "vcam/available") == {"vcam/available": b"offline"}
        finally:
            watcher.close()
            for receiver in (fine, failing, hanging):
                receiver.close()
            sink.close()


def check_mqtt(broker: Mosquitto, watcher: Watcher, vcam: Daemon, video: Path) -> tuple[dict[str, Any], float]:
    """State, the event's JSON, the snapshot, the clip; discovery, sent again when Home Assistant
    starts; a clip on demand. Returns the motion_start message and when motion went ON."""
    vcam.wait_for("mqtt_connected", 20)
    watcher.wait("vcam/available", b"online")
    watcher.wait("vcam/front/status", b"online")
    on = watcher.wait("vcam/front/motion", b"ON", timeout=40)
    off = watcher.wait("vcam/front/motion", b"OFF", since=on.at, timeout=30)
    clip = watcher.wait("vcam/front/clip", timeout=40)
    _, saved = vcam.wait_for("clip_saved", 5)

    events: dict[str, dict[str, Any]] = {}
    for seen in watcher.on("vcam/front/event"):
        events.setdefault(seen.json()["type"], seen.json())
    assert sorted(events) == ["clip_saved", "motion_end", "motion_start"], events
    start, end, clip_event = events["motion_start"], events["motion_end"], events["clip_saved"]
    zone = time.strftime("%z")
    assert start["start"].endswith(f"{zone[:3]}:{zone[3:]}")  # local time with its offset
    assert start["boxes"] and start["snapshot"].startswith("front/")
    assert end["start"] == start["start"] and end["duration_s"] > 0 and end["peak_area"] > 0
    assert clip.json()["clip"] == clip_event["clip"] == str(Path(saved["path"]).relative_to(video))
    snapshot = watcher.last("vcam/front/snapshot")
    assert snapshot is not None and snapshot.payload[:2] == b"\xff\xd8" and snapshot.at <= off.at

    # Home Assistant discovery, as a new subscriber (Home Assistant starting) gets it
    configs = {t: json.loads(p) for t, p in retained(broker, "homeassistant/+/vcam/+/config").items()}
    assert sorted(configs) == sorted(mqtt.discovery("vcam", "homeassistant", "front"))
    motion = configs["homeassistant/binary_sensor/vcam/front_motion/config"]
    assert motion["device_class"] == "motion" and motion["state_topic"] == "vcam/front/motion"
    assert {"topic": "vcam/available"} in motion["availability"]
    assert len({json.dumps(c["device"]) for c in configs.values()}) == 1  # one device for the camera
    state = retained(broker, "vcam/#")
    assert state["vcam/available"] == b"online" and state["vcam/front/motion"] == b"OFF"
    assert state["vcam/front/snapshot"][:2] == b"\xff\xd8" and state["vcam/front/status"] == b"online"

    since = time.monotonic()
    watcher.publish("homeassistant/status", "online")
    watcher.wait("homeassistant/binary_sensor/vcam/front_motion/config", since=since, timeout=5)
    watcher.wait("vcam/front/motion", b"OFF", since=since, timeout=5)

    since = time.monotonic()
    watcher.publish("vcam/front/record_now/set", "PRESS")
    vcam.wait_for("record_requested", 5)
    watcher.wait("vcam/front/clip", since=since, timeout=30)

    assert state["vcam/front/detect"] == state["vcam/front/record"] == state["vcam/front/snapshots"] == b"ON"
    for said in ("OFF", "ON"):  # a switch set over MQTT, as Home Assistant's switch entity does
        since = time.monotonic()
        watcher.publish("vcam/front/snapshots/set", said)
        watcher.wait("vcam/front/snapshots", said.encode(), since=since, timeout=5)
        _, changed = vcam.wait_for("switch_changed", 5, since=since)
        assert (changed["switch"], changed["on"], changed["by"]) == ("snapshots", said == "ON", "mqtt")
    return start, on.at


def check_webhooks(
    vcam: Daemon,
    *,
    fine: WebhookReceiver,
    failing: WebhookReceiver,
    hanging: WebhookReceiver,
    start: dict[str, Any],
    on_at: float,
) -> None:
    """The hanging one holds up nobody; the failing one is tried again; each said once."""
    kinds = {"camera_online", "motion_start", "motion_end", "clip_saved"}
    assert wait_until(lambda: kinds <= set(fine.kinds()), 10), fine.kinds()
    started = next(r for r in fine.received if json.loads(r.body)["type"] == "motion_start")
    assert abs(started.at - on_at) < 1.0, "the fine webhook was held up"
    expected = hmac.new(WEBHOOK_SECRET.encode(), started.body, hashlib.sha256).hexdigest()
    assert started.headers["X-Vcam-Signature"] == f"sha256={expected}"
    assert json.loads(started.body) == start
    assert len(failing.received) >= 2
    assert json.loads(failing.received[0].body) == json.loads(failing.received[1].body)
    assert len(hanging.received) >= 1
    assert len(vcam.events("webhook_failing")) == 2  # once each for the failing and the hanging one


def check_mail(sink: SmtpSink) -> None:
    """The motion alert, its snapshot attached."""
    assert wait_until(lambda: "vcam: motion on front" in sink.subjects(), 10), sink.subjects()
    mail = next(m for _, m in sink.messages if m["Subject"] == "vcam: motion on front")
    pictures = [p.get_payload(decode=True) for p in mail.walk() if p.get_content_type() == "image/jpeg"]
    assert pictures and isinstance(pictures[0], bytes) and pictures[0][:2] == b"\xff\xd8"


def check_hooks(vcam: Daemon, hooks_out: Path) -> None:
    """The slow one stopped at its timeout; the clip told in the environment, and nothing else of ours."""
    _, timeout = vcam.wait_for("hook_timeout", 5)
    assert timeout["hook"] == "ON_MOTION_START" and timeout["output"] == "slow hook"
    assert wait_until(lambda: hooks_out.exists() and hooks_out.read_text().count("\n") >= 1, 10)
    variables = json.loads(hooks_out.read_text().splitlines()[0])
    assert variables["VCAM_EVENT"] == "clip_saved" and Path(variables["VCAM_CLIP"]).is_file()
    assert not any(k.startswith(("MQTT", "RTSP")) for k in variables), "the hook got the daemon's settings"


def check_prometheus(prom: str, metrics_port: int) -> None:
    """Prometheus scraped vcam and answers for its metrics; promtool finds the exposition clean."""
    assert wait_until(lambda: query(prom, 'vcam_camera_up{camera="front"}'), 20)
    assert query(prom, 'vcam_camera_up{camera="front"}')[0]["value"][1] == "1"
    assert wait_until(lambda: query(prom, 'vcam_camera_clips_total{camera="front"} >= 2'), 20)
    assert float(query(prom, "process_resident_memory_bytes")[0]["value"][1]) > 10e6
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        exposition = response.read()
    lint = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=exposition, capture_output=True)
    assert lint.returncode == 0, lint.stderr
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/healthz", timeout=5) as response:
        assert response.status == 200 and response.read().startswith(b"ok: 1/1 cameras streaming")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/../etc/passwd", timeout=5)
    missing.value.close()  # the error holds the response open
    assert missing.value.code == 404


def test_broker_restarted_during_motion_and_a_camera_removed(
    broker: Mosquitto,
    rtsp_server: Callable[..., RtspServer],
    daemon: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    """The broker dies while a camera sees motion and comes back empty (no persistence): vcam sends
    the whole state again. A camera taken out of the config loses its Home Assistant entities."""
    camera = rtsp_server()  # moves all the time: motion stays ON
    config = tmp_path / "vcam.toml"
    config.write_text(f'[[cameras]]\nname = "front"\nurl = "{camera.url}"\n\n[[cameras]]\nname = "old"\nurl = "demo"\n')
    settings = {"MQTT_URL": broker.url(), "SNAPSHOT_INTERVAL": "0", "CLIP_SECONDS": "5", "PRE_SECONDS": "1"}
    vcam = daemon("--config", str(config), **settings)
    watcher = Watcher(broker, "vcam/#")
    try:
        watcher.wait("vcam/front/motion", b"ON", timeout=30)
        assert len(retained(broker, "homeassistant/+/vcam/+/config")) == 2 * len(mqtt.ENTITIES)

        broker.kill()
        vcam.wait_for("mqtt_disconnected", 10)
        time.sleep(4)  # a few of paho's reconnection tries fail meanwhile
        broker.start()
        back = vcam.wait_for("mqtt_connected", 30, count=2)
        state = retained(broker, "vcam/#")
        assert state["vcam/available"] == b"online"
        assert state["vcam/front/motion"] == b"ON" and state["vcam/front/status"] == b"online"
        assert state["vcam/front/snapshot"][:2] == b"\xff\xd8"
        assert len(retained(broker, "homeassistant/+/vcam/+/config")) == 2 * len(mqtt.ENTITIES)
        assert len(vcam.events("mqtt_disconnected")) == 1 and len(vcam.events("mqtt_unavailable")) <= 1
        print(f"\nreconnected {back[0] - vcam.events('mqtt_disconnected')[0][0]:.1f} s after the broker died")
        watcher.close()

        code, took = vcam.terminate()
        assert code == 0 and took < 10
        state = retained(broker, "vcam/#")
        assert state["vcam/available"] == b"offline" and state["vcam/front/status"] == b"offline"

        config.write_text(f'[[cameras]]\nname = "front"\nurl = "{camera.url}"\n')
        again = daemon("--config", str(config), **settings)
        again.wait_for("mqtt_discovery_removed", 15, count=len(mqtt.ENTITIES))
        assert wait_until(lambda: len(retained(broker, "homeassistant/+/vcam/+/config", 0.5)) == len(mqtt.ENTITIES), 10)
        left = retained(broker, "homeassistant/+/vcam/+/config")
        assert all("/front_" in topic for topic in left), sorted(left)
    finally:
        watcher.close()


def test_a_camera_down_and_back_is_mailed(
    make_clip: Callable[..., Path], rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon]
) -> None:
    """ALERT_AFTER after the camera is lost one mail; one more when it is back; a webhook is told.
    Meanwhile the MQTT broker accepts the connection and never answers, and a second webhook
    hangs: neither holds up the mail, and SIGTERM still ends the daemon at once."""
    sink = SmtpSink()
    fine, hanging = WebhookReceiver(), WebhookReceiver(hang=True)
    silent = socket.socket()  # a broker that takes the connection and never says CONNACK
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = free_port()
    url = f"rtsp://127.0.0.1:{port}/stream"
    vcam = daemon(
        RTSP_URL=url,
        CAMERA_NAME="door",
        RECONNECT_DELAY="1",
        RECONNECT_MAX_DELAY="1",
        SMTP_URL=f"smtp://127.0.0.1:{sink.port}",
        ALERT_EMAIL_TO="owner@example.com, second@example.com",
        ALERT_EMAIL_FROM="vcam@example.com",
        ALERT_AFTER="3",
        WEBHOOK_URLS=f"{hanging.url} {fine.url}",
        MQTT_URL=f"mqtt://127.0.0.1:{silent.getsockname()[1]}",
    )
    camera: RtspServer | None = None
    try:
        started = time.monotonic()
        assert wait_until(lambda: sink.subjects() == ["vcam: camera door is offline"], 15), sink.subjects()
        down_after = sink.messages[0][0] - started
        assert 3 <= down_after < 8, down_after
        mail = sink.messages[0][1]
        assert mail["To"] == "owner@example.com, second@example.com" and "door" in str(mail.get_payload())

        camera = RtspServer(make_clip(), port).start()
        up = time.monotonic()
        assert wait_until(lambda: len(sink.subjects()) == 2, 20), sink.subjects()
        assert sink.subjects()[1] == "vcam: camera door is back"
        back_after = sink.messages[1][0] - up
        print(f"\noffline mail {down_after:.1f} s after start (ALERT_AFTER=3), back mail {back_after:.1f} s after it")
        assert wait_until(lambda: "camera_online" in fine.kinds(), 5), fine.kinds()
        # the sink has the mail before the daemon, once the server said goodbye, logs it
        assert wait_until(lambda: len(vcam.events("alert_sent")) == 2, 5), vcam.events("alert_sent")
        code, took = vcam.terminate()
        print(f"SIGTERM to exit with a silent broker and a hanging webhook: {took:.2f} s")
        assert code == 0 and took < 5
    finally:
        if camera is not None:
            camera.kill()
        sink.close()
        fine.close()
        hanging.close()
        silent.close()
