"""MQTT: state for Home Assistant and anything else that listens, a bus subscriber.

Topics below the prefix (default ``vcam``): ``available`` online/offline (retained; the last will
says offline when the daemon dies or its network does), and per camera ``<camera>/status``
online/offline, ``<camera>/motion`` ON/OFF, ``<camera>/snapshot`` the outlined JPEG of the newest
event, ``<camera>/clip`` the newest clip's JSON (all retained), ``<camera>/event`` JSON of each
motion start, end and clip; ``<camera>/detect``, ``<camera>/record``, ``<camera>/snapshots`` the
camera's switches ON/OFF (retained). To vcam: ``<camera>/<switch>/set`` ON or OFF sets a switch
(as the web UI does, kept across restarts); ``<camera>/record_now/set`` starts a clip on demand.

paho's own thread keeps the connection (reconnecting with capped backoff); this module only ever
publishes what it is told and republishes the whole state at each connect, so a broker that was
down or restarted ends up right. While the broker is away nothing queues: messages are counted as
dropped, and the state is sent again on reconnect.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vcam import __version__, bus
from vcam.config import NotifySettings
from vcam.live import SWITCHES
from vcam.notify import messages
from vcam.notify.messages import Mask

KEEPALIVE_S = 30  # the broker says offline (the will) within 1.5x this after the network dies
CONNECT_TIMEOUT_S = 5.0
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 60
QOS = 1
STOP_WAIT_S = 1.0  # for the last messages at a clean stop, and again for paho's thread to end
EVENT_TYPES = (messages.MOTION_START, messages.MOTION_END, messages.CLIP_SAVED)  # on <camera>/event
ENTITIES = ("motion", "connectivity", "camera", "last_clip", "record_now", *SWITCHES)  # ids: <camera>_<entity>
RECORD_NOW = "record_now"
SWITCH_NAMES = {"detect": "Detection", "record": "Recording", "snapshots": "Snapshots"}


def node_id(prefix: str) -> str:
    """Home Assistant's node id for this daemon: the topic prefix in the characters it allows."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", prefix)


def discovery(prefix: str, discovery_prefix: str, camera: str) -> dict[str, dict[str, Any]]:
    """Home Assistant discovery: the retained config of each of a camera's entities, by topic."""
    node = node_id(prefix)
    base = f"{prefix}/{camera}"
    device = {
        "identifiers": [f"{node}_{camera}"],
        "name": camera,
        "manufacturer": "vcam",
        "model": "motion-recording camera",
        "sw_version": __version__,
    }
    available = {"topic": f"{prefix}/available"}
    streaming = {"topic": f"{base}/status", "payload_available": "online", "payload_not_available": "offline"}
    common = {"device": device, "origin": {"name": "vcam", "sw": __version__}}
    entities: dict[str, dict[str, Any]] = {
        "motion": {
            "component": "binary_sensor",
            "name": "Motion",
            "device_class": "motion",
            "state_topic": f"{base}/motion",
            "payload_on": "ON",
            "payload_off": "OFF",
            "availability": [available, streaming],
            "availability_mode": "all",
        },
        "connectivity": {
            "component": "binary_sensor",
            "name": "Connectivity",
            "device_class": "connectivity",
            "entity_category": "diagnostic",
            "state_topic": f"{base}/status",
            "payload_on": "online",
            "payload_off": "offline",
            "availability": [available],
        },
        "camera": {
            "component": "camera",
            "name": "Last event",
            "topic": f"{base}/snapshot",
            "availability": [available],
        },
        "last_clip": {
            "component": "sensor",
            "name": "Last clip",
            "icon": "mdi:filmstrip",
            "state_topic": f"{base}/clip",
            "value_template": "{{ value_json.clip }}",
            "json_attributes_topic": f"{base}/clip",
            "availability": [available],
        },
        RECORD_NOW: {
            "component": "button",
            "name": "Record now",
            "icon": "mdi:record-rec",
            "command_topic": f"{base}/{RECORD_NOW}/set",
            "payload_press": "PRESS",
            "availability": [available, streaming],
            "availability_mode": "all",
        },
    }
    for switch in SWITCHES:
        entities[switch] = {
            "component": "switch",
            "name": SWITCH_NAMES[switch],
            "entity_category": "config",
            "state_topic": f"{base}/{switch}",
            "command_topic": f"{base}/{switch}/set",
            "payload_on": "ON",
            "payload_off": "OFF",
            "availability": [available],
        }
    configs = {}
    for entity, fields in entities.items():
        component = fields.pop("component")
        fields.update(common, unique_id=f"{node}_{camera}_{entity}")
        configs[f"{discovery_prefix}/{component}/{node}/{camera}_{entity}/config"] = fields
    return configs


def camera_of_config(topic: str, discovery_prefix: str, node: str) -> str | None:
    """The camera a retained discovery config of ours is for (to remove those no longer configured)."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != discovery_prefix or parts[2] != node or parts[4] != "config":
        return None
    for entity in sorted(ENTITIES, key=len, reverse=True):  # last_clip before clip-like endings
        if parts[3].endswith(f"_{entity}"):
            return parts[3].removesuffix(f"_{entity}") or None
    return None


class MqttNotifier:
    def __init__(
        self,
        settings: NotifySettings,
        cameras: tuple[str, ...],
        video_dir: Path,
        log: Any,
        *,
        mask: Mask,
        record: Callable[[str], bool],
        switches: Callable[[str], dict[str, bool]],
        switch: Callable[[str, str, bool, str | None], bool],
    ) -> None:
        assert settings.mqtt is not None
        self.server = settings.mqtt
        self.settings = settings
        self.prefix = settings.mqtt_prefix
        self.cameras = cameras
        self.video_dir = video_dir
        self.log = log.bind(notifier="mqtt", broker=f"{self.server.host}:{self.server.port}")
        self.mask = mask
        self.record = record  # starts a clip on demand; False if there is no such camera
        self.switches = switches  # a camera's switches now
        self.switch = switch  # sets one (camera, switch, on, by); False if there is no such camera or switch
        self.presence = messages.Presence(cameras)
        self._lock = threading.Lock()  # the state below: events on the consumer thread, connects on paho's
        self._motion = dict.fromkeys(cameras, "OFF")
        self._clip: dict[str, bytes] = {}
        self._snapshot: dict[str, bytes] = {}
        self._connected = False
        self._failing = False
        self.sent = 0
        self.dropped = 0  # messages not sent because the broker was away
        self.client = self._client()

    def _client(self) -> mqtt.Client:
        client_id = self.settings.mqtt_client_id or f"vcam-{node_id(self.prefix)}-{socket.gethostname()}"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if self.server.user:
            client.username_pw_set(self.server.user, self.server.password or None)
        if self.server.tls:
            client.tls_set(ca_certs=self.settings.mqtt_ca_file or None)
        client.will_set(f"{self.prefix}/available", "offline", qos=QOS, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        # the whole state goes out at each connect (about 20 messages a camera): in flight at once,
        # rather than 20 at a time behind the broker's acknowledgements
        client.max_inflight_messages_set(20 + 25 * len(self.cameras))
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # --- the connection (paho's thread) ------------------------------------------------------------

    def start(self) -> None:
        self.client.connect_async(self.server.host, self.server.port, keepalive=KEEPALIVE_S)
        self.client.loop_start()

    def stop(self) -> None:
        """A clean stop says offline itself (the will is only for an unclean end)."""
        with self._lock:
            if self._connected:
                for camera in self.cameras:
                    self._publish(f"{self.prefix}/{camera}/status", "offline", retain=True)
                info = self._publish(f"{self.prefix}/available", "offline", retain=True)
                if info is not None:
                    info.wait_for_publish(STOP_WAIT_S)
        self.client.disconnect()
        # paho's thread may be inside a connect to a broker that does not answer (up to its
        # timeout): it is a daemon thread, and the stop does not wait for it past STOP_WAIT_S
        stopper = threading.Thread(target=self.client.loop_stop, name="mqtt-stop", daemon=True)
        stopper.start()
        stopper.join(STOP_WAIT_S)

    def _on_connect(self, client: mqtt.Client, _: Any, __: Any, reason: Any, ___: Any) -> None:
        if reason.is_failure:
            self._say_failing(str(reason))
            return
        with self._lock:
            self._connected = True
            d = self.settings.discovery_prefix
            client.subscribe([(f"{self.prefix}/+/+/set", QOS)])
            if self.settings.discovery:
                client.subscribe([(f"{d}/status", QOS), (f"{d}/+/{node_id(self.prefix)}/+/config", QOS)])
                self._send_discovery()
            self._send_state()
            self._publish(f"{self.prefix}/available", "online", retain=True)
        self._failing = False
        self.log.info("mqtt_connected", discovery=self.settings.discovery)

    def _on_connect_fail(self, _: mqtt.Client, __: Any) -> None:
        self._say_failing("cannot connect")

    def _on_disconnect(self, _: mqtt.Client, __: Any, ___: Any, reason: Any, ____: Any) -> None:
        with self._lock:
            was = self._connected
            self._connected = False
        if was:
            self.log.warning("mqtt_disconnected", reason=self.mask(str(reason)))

    def _say_failing(self, reason: str) -> None:
        if not self._failing:
            self._failing = True
            self.log.error("mqtt_unavailable", reason=self.mask(reason), retry_max_s=RECONNECT_MAX_S)

    def _on_message(self, _: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        d = self.settings.discovery_prefix
        topic = message.topic
        if topic == f"{d}/status":
            if message.payload == b"online":
                self.log.info("mqtt_discovery_resent", why="home assistant started")
                with self._lock:
                    self._send_discovery()
                    self._send_state()
            return
        parts = topic[len(self.prefix) + 1 :].split("/") if topic.startswith(self.prefix + "/") else []
        if len(parts) == 3 and parts[2] == "set":
            self._command(parts[0], parts[1], message.payload)
            return
        stale = camera_of_config(topic, d, node_id(self.prefix))
        if stale is not None and message.payload and stale not in self.cameras:
            self.log.info("mqtt_discovery_removed", camera=stale, topic=topic)
            with self._lock:
                self._publish(topic, b"", retain=True)

    def _command(self, camera: str, what: str, payload: bytes | bytearray) -> None:
        if what == RECORD_NOW:
            started = self.record(camera)
            self.log.info("record_requested", by="mqtt", camera=camera, started=started)
            return
        said = payload.decode(errors="replace").strip().upper()
        if what not in SWITCHES or said not in ("ON", "OFF"):
            self.log.warning(
                "mqtt_command_unknown",
                topic=f"{self.prefix}/{camera}/{what}/set",
                payload=said[:20],
                expected=f"{'/'.join(SWITCHES)}/set ON or OFF, or {RECORD_NOW}/set",
            )
            return
        if not self.switch(camera, what, said == "ON", "mqtt"):
            self.log.warning("mqtt_command_unknown", topic=f"{self.prefix}/{camera}/{what}/set", why="no such camera")

    def _send_discovery(self) -> None:
        for camera in self.cameras:
            for topic, config in discovery(self.prefix, self.settings.discovery_prefix, camera).items():
                self._publish(topic, json.dumps(config), retain=True)

    def _send_state(self) -> None:
        for camera in self.cameras:
            base = f"{self.prefix}/{camera}"
            self._publish(f"{base}/status", "online" if self.presence.online(camera) else "offline", retain=True)
            self._publish(f"{base}/motion", self._motion[camera], retain=True)
            if camera in self._clip:
                self._publish(f"{base}/clip", self._clip[camera], retain=True)
            if camera in self._snapshot:
                self._publish(f"{base}/snapshot", self._snapshot[camera], retain=True)
            for switch, on in self.switches(camera).items():
                self._publish(f"{base}/{switch}", "ON" if on else "OFF", retain=True)

    def _publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> mqtt.MQTTMessageInfo | None:
        if not self._connected:
            self.dropped += 1
            return None
        info = self.client.publish(topic, payload, qos=QOS, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.dropped += 1
            return None
        self.sent += 1
        return info

    # --- events (the consumer's thread) -------------------------------------------------------------

    def handle(self, event: bus.Event) -> None:
        if isinstance(event, bus.SwitchChanged):
            if event.camera in self._motion:
                with self._lock:
                    self._publish(
                        f"{self.prefix}/{event.camera}/{event.switch}", "ON" if event.on else "OFF", retain=True
                    )
            return
        told = (bus.CameraConnected, bus.CameraLost, bus.MotionStarted, bus.MotionEnded, bus.ClipSaved)
        if not isinstance(event, told) or event.camera not in self._motion:
            return
        camera = event.camera
        base = f"{self.prefix}/{camera}"
        message = messages.describe(event, self.video_dir, self.mask)
        snapshot = self._read_snapshot(event) if isinstance(event, bus.MotionStarted) else None
        with self._lock:
            changed = self.presence.update(event)
            if changed is not None:
                self._publish(f"{base}/status", "online" if changed else "offline", retain=True)
            if isinstance(event, bus.MotionStarted):
                self._motion[camera] = "ON"
                if snapshot is not None:
                    self._snapshot[camera] = snapshot
                    self._publish(f"{base}/snapshot", snapshot, retain=True)
                self._publish(f"{base}/motion", "ON", retain=True)
            elif isinstance(event, bus.MotionEnded):
                self._motion[camera] = "OFF"
                self._publish(f"{base}/motion", "OFF", retain=True)
            elif isinstance(event, bus.ClipSaved):
                self._clip[camera] = json.dumps(message).encode()
                self._publish(f"{base}/clip", self._clip[camera], retain=True)
            if message is not None and message["type"] in EVENT_TYPES:
                self._publish(f"{base}/event", json.dumps(message))

    def _read_snapshot(self, event: bus.MotionStarted) -> bytes | None:
        if event.snapshot is None:
            return None
        try:
            return event.snapshot.read_bytes()
        except OSError as exc:
            self.log.warning("mqtt_snapshot_unreadable", path=str(event.snapshot), error=exc.strerror or str(exc))
            return None
