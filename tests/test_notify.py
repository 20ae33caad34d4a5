"""The notifiers' own logic, without a broker: what each event says, who is online, Home Assistant's
discovery configs, which alerts are due, webhook signing and retries (against a real local HTTP
server), hooks (real subprocesses), the notification settings and the metrics exposition."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import threading
import time
from pathlib import Path

import pytest
from notify_parts import WebhookReceiver
from prometheus_client import generate_latest
from test_app import vcam
from test_pipeline import RecordingLog

from vcam import bus, config
from vcam.camera_url import Masker
from vcam.metrics import Counts, Snapshot, registry
from vcam.notify import alerts, hooks, messages, mqtt, webhook
from vcam.pipeline import CameraStats

VIDEO = Path("/srv/video")
T0 = 1_790_000_000.0


def lost(camera: str = "front", at: float = T0, stream: str = "main") -> bus.CameraLost:
    return bus.CameraLost(camera, at, "refused", "rtsp://admin:hunter22@cam/x said no", stream)


def connected(camera: str = "front", at: float = T0, stream: str = "main") -> bus.CameraConnected:
    return bus.CameraConnected(camera, at, "h264", 1280, 720, 15.0, "tcp", None, stream)


def started(camera: str = "front", at: float = T0) -> bus.MotionStarted:
    return bus.MotionStarted(camera, at, 2.5, ((1, 2, 3, 4),), VIDEO / "front/2026-12-02/event.jpg")


# --- messages ----------------------------------------------------------------------------------


def test_each_told_event_has_one_message_with_zoned_times_relative_paths_and_no_password() -> None:
    mask = Masker(["hunter22"])
    start = messages.describe(started(), VIDEO, mask)
    assert start == {
        "type": "motion_start",
        "camera": "front",
        "start": messages.iso(T0),
        "area": 2.5,
        "boxes": [[1, 2, 3, 4]],
        "snapshot": "front/2026-12-02/event.jpg",
    }
    assert start["start"][-6] in "+-" and start["start"][-3] == ":"  # the zone, as +01:00
    end = messages.describe(bus.MotionEnded("front", T0, T0 + 4.25, 7.0), VIDEO, mask)
    assert end is not None and (end["duration_s"], end["peak_area"]) == (4.25, 7.0)
    clip = bus.ClipSaved("front", VIDEO / "front/2026-12-02/c.mp4", T0, 30.0, 123, "passthrough", False)
    said = messages.describe(clip, VIDEO, mask)
    assert said is not None and said["clip"] == "front/2026-12-02/c.mp4" and said["size"] == 123
    offline = messages.describe(lost(), VIDEO, mask)
    assert offline is not None and "hunter22" not in json.dumps(offline) and "admin:***@cam" in offline["detail"]
    assert messages.describe(bus.MotionProgress("front", T0, T0 + 1, 3.0), VIDEO, mask) is None


def test_a_camera_is_online_while_every_stream_it_connected_streams() -> None:
    presence = messages.Presence(("front",))
    assert not presence.online("front")
    assert presence.update(connected()) is True
    assert presence.update(connected(stream="detect")) is None  # already online
    assert presence.update(lost(stream="detect")) is False  # no sub-stream: nothing detected
    assert presence.update(lost()) is None
    assert presence.update(connected(stream="detect")) is None
    assert presence.update(connected()) is True


# --- Home Assistant discovery --------------------------------------------------------------------


def test_discovery_gives_each_camera_one_device_with_its_entities_all_with_availability() -> None:
    configs = mqtt.discovery("vcam", "homeassistant", "back_yard")
    assert sorted(configs) == [
        "homeassistant/binary_sensor/vcam/back_yard_connectivity/config",
        "homeassistant/binary_sensor/vcam/back_yard_motion/config",
        "homeassistant/button/vcam/back_yard_record_now/config",
        "homeassistant/camera/vcam/back_yard_camera/config",
        "homeassistant/sensor/vcam/back_yard_last_clip/config",
        "homeassistant/switch/vcam/back_yard_detect/config",
        "homeassistant/switch/vcam/back_yard_record/config",
        "homeassistant/switch/vcam/back_yard_snapshots/config",
    ]
    assert len({c["unique_id"] for c in configs.values()}) == len(mqtt.ENTITIES) == 8
    record = configs["homeassistant/switch/vcam/back_yard_record/config"]
    assert (record["state_topic"], record["command_topic"]) == ("vcam/back_yard/record", "vcam/back_yard/record/set")
    button = configs["homeassistant/button/vcam/back_yard_record_now/config"]
    assert button["command_topic"] == "vcam/back_yard/record_now/set"
    assert all({"topic": "vcam/available"} in c["availability"] for c in configs.values())
    assert all(c["device"]["identifiers"] == ["vcam_back_yard"] for c in configs.values())
    motion = configs["homeassistant/binary_sensor/vcam/back_yard_motion/config"]
    assert (motion["payload_on"], motion["payload_off"], motion["availability_mode"]) == ("ON", "OFF", "all")
    for topic in configs:  # a retained config of ours is read back to its camera (to remove stale ones)
        assert mqtt.camera_of_config(topic, "homeassistant", "vcam") == "back_yard"
    assert mqtt.camera_of_config("homeassistant/sensor/other/x_motion/config", "homeassistant", "vcam") is None
    assert mqtt.node_id("home/vcam") == "home_vcam"


# --- alerts ----------------------------------------------------------------------------------------


def test_a_camera_down_is_told_once_after_alert_after_and_once_when_back() -> None:
    due = alerts.Alerts(("front",), after=300, on_motion=False, max_per_hour=6, started=T0)
    assert due.event(connected(at=T0 + 1)) == []
    assert due.event(lost(at=T0 + 10)) == []
    assert due.due(T0 + 309) == []
    [down] = due.due(T0 + 311)
    assert down.subject == "vcam: camera front is offline" and "refused" in down.body
    assert due.due(T0 + 900) == []  # once per outage
    [back] = due.event(connected(at=T0 + 1210))
    assert back.subject == "vcam: camera front is back" and "20 min offline" in back.body
    assert due.event(lost(at=T0 + 2000)) == [] and due.event(connected(at=T0 + 2100)) == []  # short: no mail
    assert due.due(T0 + 5000) == []


def test_a_camera_that_never_connects_is_told_after_alert_after_from_the_start() -> None:
    due = alerts.Alerts(("front",), after=60, on_motion=False, max_per_hour=6, started=T0)
    due.event(lost(at=T0 + 2))
    [down] = due.due(T0 + 61)
    assert "refused" in down.body


def test_motion_mails_are_capped_per_camera_per_hour_and_the_next_says_how_many_were_not_sent() -> None:
    due = alerts.Alerts(("front", "yard"), after=300, on_motion=True, max_per_hour=2, started=T0)
    sent = [due.event(started(at=T0 + 60 * i)) for i in range(5)]
    assert [len(s) for s in sent] == [1, 1, 0, 0, 0]
    assert sent[0][0].attachment == started().snapshot
    assert len(due.event(started("yard", T0 + 100))) == 1  # its own limit
    [later] = due.event(started(at=T0 + 3600 + 30))
    assert "3 more events were not mailed" in later.body


def test_storage_nearly_full_is_told_once_and_once_when_fine_again() -> None:
    due = alerts.Alerts(("front",), after=300, on_motion=False, max_per_hour=6, started=T0)
    assert [a.subject for a in due.event(bus.StorageLow("min_free", 5_000_000))] == ["vcam: storage is nearly full"]
    assert due.event(bus.StorageLow("min_free", 9_000_000)) == []
    assert [a.subject for a in due.event(bus.StorageLow("min_free", 0))] == ["vcam: storage is fine again"]


# --- webhooks --------------------------------------------------------------------------------------


def test_webhook_credentials_become_a_header_and_logs_show_only_the_host() -> None:
    url, headers = webhook.split_credentials("https://me:p%40ss@hooks.example.com:8443/api/webhook/secret-id")
    assert url == "https://hooks.example.com:8443/api/webhook/secret-id"
    assert headers == {"Authorization": "Basic bWU6cEBzcw=="}  # me:p@ss
    assert webhook.shown_url("https://me:x@hooks.example.com/api/webhook/secret-id") == "https://hooks.example.com/…"
    assert webhook.retry_waits() == [2.0, 4.0, 8.0]


def test_a_webhook_is_signed_retried_on_5xx_and_not_retried_on_4xx() -> None:
    log = RecordingLog()
    waited: list[float] = []
    for status, attempts in ((500, 4), (404, 1), (200, 1)):
        receiver = WebhookReceiver(status=status)
        notifier = webhook.WebhookNotifier(
            receiver.url, "s3cret", VIDEO, log, mask=Masker(), stopping=threading.Event()
        )
        notifier.sleep = lambda s: waited.append(s) is not None  # type: ignore[func-returns-value]
        notifier.handle(started())
        notifier.handle(bus.MotionProgress("front", T0, T0 + 1, 3.0))  # not told outside
        receiver.close()
        assert len(receiver.received) == attempts, status
        body = receiver.received[0].body
        assert (
            receiver.received[0].headers["X-Vcam-Signature"]
            == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        )
        assert (notifier.sent, notifier.failed) == ((1, 0) if status == 200 else (0, 1))
    assert waited == [2.0, 4.0, 8.0]
    assert [e["error"] for e in log.named("webhook_failing")] == ["HTTP 500", "HTTP 404 (not tried again)"]


def test_an_unreachable_webhook_gives_up_at_once_when_stopping() -> None:
    stopping = threading.Event()
    stopping.set()
    notifier = webhook.WebhookNotifier(
        "http://127.0.0.1:9/none", "", VIDEO, RecordingLog(), mask=Masker(), stopping=stopping
    )
    notifier.handle(started())
    assert (notifier.sent, notifier.failed) == (0, 1)


# --- hooks -----------------------------------------------------------------------------------------


def test_hook_environment_has_the_event_and_absolute_paths() -> None:
    message = messages.describe(started(), VIDEO, Masker())
    assert message is not None
    env = hooks.environment(message, VIDEO)
    assert env["VCAM_EVENT"] == "motion_start" and env["VCAM_CAMERA"] == "front"
    assert env["VCAM_SNAPSHOT"] == "/srv/video/front/2026-12-02/event.jpg"
    assert json.loads(env["VCAM_JSON"]) == message
    assert hooks.inherited({"RTSP_URL": "rtsp://a:b@c", "MQTT_URL": "x", "PATH": "/bin"}) == {"PATH": "/bin"}


def test_hooks_log_their_exit_and_output_and_never_raise(tmp_path: Path) -> None:
    log = RecordingLog()
    script = "import os, sys; print(os.environ['VCAM_CAMERA'], 'said'); sys.exit(3)"
    runner = hooks.HookRunner(
        {"ON_MOTION_START": (sys.executable, "-c", script), "ON_MOTION_END": ("/nonexistent/hook",)},
        5.0,
        VIDEO,
        log,
        mask=Masker(),
    )
    runner.handle(started())
    runner.handle(bus.MotionEnded("front", T0, T0 + 3, 4.0))
    runner.handle(bus.ClipSaved("front", VIDEO / "c.mp4", T0, 3, 1, "annotated", False))  # no hook for it
    [done] = log.named("hook_done")
    assert (done["hook"], done["exit"], done["output"]) == ("ON_MOTION_START", 3, "front said")
    [failed] = log.named("hook_failed")
    assert failed["hook"] == "ON_MOTION_END" and "No such file" in failed["error"]
    assert (runner.sent, runner.failed) == (0, 2)


def test_a_hook_past_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    log = RecordingLog()
    marker = tmp_path / "child-ran"
    script = f"sleep 0.3; exec sh -c 'sleep 3; touch {marker}'"
    runner = hooks.HookRunner({"ON_MOTION_START": ("sh", "-c", script)}, 1.0, VIDEO, log, mask=Masker())
    runner.handle(started())
    [timeout] = log.named("hook_timeout")
    assert timeout["timeout_s"] == 1.0
    threading.Event().wait(3)
    assert not marker.exists()


# --- settings --------------------------------------------------------------------------------------


def test_notification_settings_are_read_and_every_problem_named() -> None:
    env = {
        "RTSP_URL": "demo",
        "MQTT_URL": "mqtt://vcam:p%40ss%2Fw@broker.lan",
        "SMTP_URL": "smtps://me%40example.com:pw@smtp.example.com",
        "ALERT_EMAIL_TO": "a@example.com, b@example.com",
        "WEBHOOK_URLS": "http://h1/a https://h2:8443/b",
        "ON_CLIP_SAVED": "/opt/hook.sh --clip 'with space'",
        "METRICS_ADDR": "0.0.0.0:9200",
    }
    notify = config.parse(env).notify
    assert notify.mqtt == config.Server("mqtt", "broker.lan", 1883, "vcam", "p@ss/w")
    assert notify.smtp is not None and (notify.smtp.port, notify.smtp.tls, notify.email_from) == (
        465,
        True,
        "me@example.com",
    )
    assert notify.email_to == ("a@example.com", "b@example.com") and len(notify.webhooks) == 2
    assert notify.hooks == (("ON_CLIP_SAVED", ("/opt/hook.sh", "--clip", "with space")),)
    assert notify.metrics_addr == ("0.0.0.0", 9200)
    assert config.parse({"RTSP_URL": "demo", "METRICS_ADDR": "off"}).notify.metrics_addr is None

    bad = {
        "RTSP_URL": "demo",
        "MQTT_URL": "http://broker",
        "MQTT_TOPIC_PREFIX": "vcam/#",
        "SMTP_URL": "smtp://relay.lan",
        "WEBHOOK_URLS": "ftp://x/y",
        "ON_MOTION_START": "say 'unclosed",
        "METRICS_ADDR": "9108",
    }
    with pytest.raises(config.ConfigError) as caught:
        config.parse(bad)
    problems = " | ".join(caught.value.problems)
    for name in ("MQTT_URL=", "MQTT_TOPIC_PREFIX=", "ALERT_EMAIL_TO=", "ALERT_EMAIL_FROM=", "WEBHOOK_URLS:"):
        assert name in problems, name
    assert "ON_MOTION_START=" in problems and "METRICS_ADDR=" in problems


def test_check_masks_the_broker_and_mail_passwords_and_the_webhook_secret(tmp_path: Path) -> None:
    result = vcam(
        "check",
        cwd=tmp_path,
        RTSP_URL="demo",
        VIDEO_DIR=str(tmp_path / "v"),
        MQTT_URL="mqtt://vcam:Zx9%23q@broker.lan",
        SMTP_URL="smtp://me%40example.com:Mail-Pass-1@smtp.example.com:587",
        ALERT_EMAIL_TO="me@example.com",
        WEBHOOK_URLS="https://u:Hook-Pass-2@h.example.com/x",
        WEBHOOK_SECRET="hmac-secret-3",
    )
    assert result.returncode == 0, result.stderr
    for secret in ("Zx9", "Mail-Pass-1", "Hook-Pass-2", "hmac-secret-3"):
        assert secret not in result.stdout + result.stderr
    assert "MQTT_URL=mqtt://vcam:***@broker.lan" in result.stdout and "WEBHOOK_SECRET=***" in result.stdout


# --- metrics ---------------------------------------------------------------------------------------


def stats(camera: str, connected: bool) -> CameraStats:
    return CameraStats(
        camera=camera,
        state="streaming" if connected else "down",
        connected=connected,
        frames=900,
        analysed=300,
        fps_in=15.0,
        fps_analysed=5.0,
        dropped=0,
        packets_dropped=0,
        reconnects=2,
        last_frame_age=0.05 if connected else None,
        running_for=60.0,
        reader_beat_age=0.1,
        worker_beat_age=0.1,
        last_error=None,
        motion=False,
        events=4,
        recorder_backlog=3,
        recording=False,
        clips_saved=2,
        bytes_written=2_000_000,
        last_clip="front.mp4",
    )


def test_the_metrics_come_from_the_snapshot_at_scrape_time() -> None:
    snapshots = [
        Snapshot(
            live=True,
            status="2/2",
            cameras=(stats("front", True), stats("yard", False)),
            used_bytes=10**9,
            free_bytes=5 * 10**9,
            deleted={"age": 7},
            subscribers=(Counts("mqtt", dropped=1),),
            notifiers=(Counts("mqtt", sent=10, dropped=2),),
        )
    ]
    text = generate_latest(registry(lambda: snapshots[-1])).decode()
    for line in (
        'vcam_camera_up{camera="front"} 1.0',
        'vcam_camera_up{camera="yard"} 0.0',
        'vcam_camera_frames_total{camera="front"} 900.0',
        'vcam_camera_motion_events_total{camera="yard"} 4.0',
        'vcam_camera_clip_bytes_total{camera="front"} 2e+06',
        'vcam_camera_recorder_backlog{camera="front"} 3.0',
        "vcam_storage_free_bytes 5e+09",
        'vcam_files_deleted_total{reason="age"} 7.0',
        'vcam_files_deleted_total{reason="min_free"} 0.0',
        'vcam_bus_dropped_total{subscriber="mqtt"} 1.0',
        'vcam_notifications_dropped_total{notifier="mqtt"} 2.0',
        "process_resident_memory_bytes",
    ):
        assert line in text, line
    assert 'vcam_camera_last_frame_age_seconds{camera="yard"}' not in text  # no picture yet: no sample


def test_the_bus_consumer_ticks_about_once_a_second_for_what_is_due_with_time() -> None:
    events = bus.Bus(RecordingLog())
    ticks: list[int] = []
    consumer = bus.Consumer(events.subscribe("t"), lambda _: None, RecordingLog(), tick=lambda: ticks.append(1))
    consumer.start()
    threading.Event().wait(2.7)
    consumer.stop()
    assert consumer.join(time.monotonic() + 2)
    assert 2 <= len(ticks) <= 3
