"""The daemon's wiring: settings -> pipelines under a supervisor, the bus and its subscribers, the
storage keeper; signals; the main loop that feeds systemd and the health file; a stop inside the
service managers' 10 s. The command line that starts it is app.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import cv2

from vcam import __version__, bus, camera_url, config, layout, logs, memory, scan, storage
from vcam.bus import Bus, Consumer
from vcam.eventlog import EventLog, EventLogWriter
from vcam.live import SWITCHES, Controls, LiveView
from vcam.metrics import Counts, MetricsServer, Snapshot
from vcam.notify.hooks import HookRunner
from vcam.notify.mail import MailNotifier
from vcam.notify.mqtt import MqttNotifier
from vcam.notify.webhook import WebhookNotifier
from vcam.pipeline import Pipeline
from vcam.retention import StoredFile
from vcam.supervisor import Supervisor
from vcam.systemd import Notifier
from vcam.web.accounts import Accounts
from vcam.web.server import WebServer
from vcam.web.site import Camera, Site

EXIT_OK = 0
STOP_BUDGET_S = 6.0  # well inside systemd's and Docker's 10 s before SIGKILL (with the steps after it)
NOTIFY_QUEUE = 200  # events a notifier may fall behind by before it drops and counts
CONSUMER_DRAIN_S = 1.0  # what subscribers still have queued at stop is written within this
TICK_S = 1.0


def run(settings: config.Config) -> int:
    log = logs.get()
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cv2.setNumThreads(1)  # one thread per pipeline does the image work; OpenCV's pool only adds CPU
    memory.tune_malloc()  # before the threads start, so they share its arenas

    events = Bus(log)  # the pipelines and the storage keeper publish; the subscribers each have a thread
    keeper = storage.StorageKeeper(
        settings.video_dir, settings.temp_dir, settings.retention, log, publish=events.publish
    )

    # what the web UI changes and shows of each camera: kept across a pipeline's restart
    controls, lives = {c.name: Controls() for c in settings.enabled}, {c.name: LiveView.of(c) for c in settings.enabled}

    def pipeline_of(camera: config.CameraConfig) -> Callable[[], Pipeline]:
        def make() -> Pipeline:
            return Pipeline(
                camera,
                settings.video_dir,
                settings.temp_dir,
                log,
                bus=events,
                make_room=keeper.enforce,
                on_clip=lambda _: keeper.request(),
                controls=controls[camera.name],
                live=lives[camera.name],
            )

        return make

    supervisor = Supervisor([pipeline_of(camera) for camera in settings.enabled], log)
    board = Switchboard(controls, events.publish, log)
    listeners = subscribers(events, settings, log, record=supervisor.record, board=board, keeper=keeper)
    address = settings.notify.metrics_addr
    server = None if address is None else MetricsServer(address, lambda: snapshot(supervisor, keeper, listeners), log)
    say_started(settings, log)
    web = web_server(settings, supervisor=supervisor, listeners=listeners, board=board, lives=lives, log=log)
    notifier = Notifier(os.environ)
    health_file = layout.health_path(settings.temp_dir, os.getpid())
    listeners.start()
    keeper.start()
    supervisor.start()
    servers = [s for s in (server, web) if s is not None]  # metrics and the web UI: their own threads
    for each in servers:
        each.start()
    notifier.ready(supervisor.summary()[1])
    while not stop.wait(TICK_S):
        supervisor.tick()
        live, status = supervisor.summary()
        notifier.status(status)
        if live:
            notifier.watchdog()  # withheld while a pipeline is wedged; a camera that is down is only said
        write_health(health_file, healthy=live, status=status, stopping=False)
    log.info("vcam_stopping")
    notifier.stopping()
    write_health(health_file, healthy=True, status="stopping", stopping=True)
    started = time.monotonic()
    clean = supervisor.stop(STOP_BUDGET_S)
    keeper.stop()
    keeper.join(time.monotonic() + 1)
    for each in servers:
        each.stop()
    listeners.stop()
    health_file.unlink(missing_ok=True)  # no daemon, no health: TEMP_DIR is left empty
    log.info("vcam_stopped", clean=clean, stop_s=round(time.monotonic() - started, 2))
    if not clean:
        # A reader still blocked inside FFmpeg on a frozen camera: clips are finished (the recorder is
        # always joined), and letting the interpreter tear down modules under that thread can crash
        # it. Leave at once instead.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_OK)
    return EXIT_OK


def say_started(settings: config.Config, log: Any) -> None:
    log.info(
        "vcam_started",
        pid=os.getpid(),
        version=__version__,
        cameras=",".join(camera.name for camera in settings.enabled),
        video_dir=str(settings.video_dir),
    )
    if any(camera.url == camera_url.DEMO for camera in settings.enabled):
        log.info(
            "demo_camera",
            note="this is the built-in demo camera: a car crosses every 20 s",
            next="set RTSP_URL in .env to your camera's stream (examples in .env_example), then start vcam again",
            stop="Ctrl-C",
        )


class Switchboard:
    """Sets a camera's switches (Controls), from the UI, the API or MQTT: at once, kept in the event
    database (so they survive a restart), said in the log and on the bus (MQTT's retained state)."""

    def __init__(self, controls: dict[str, Controls], publish: Callable[[bus.Event], None], log: Any) -> None:
        self.controls = controls
        self.publish = publish
        self.log = log
        self.accounts: Accounts | None = None  # where they are kept, once the web UI's database is open

    def state(self, camera: str) -> dict[str, bool]:
        controls = self.controls[camera]
        return {name: controls.get(name) for name in SWITCHES}

    def restore(self, accounts: Accounts) -> None:
        """Before the cameras start: what was set earlier overrides the settings file."""
        self.accounts = accounts
        for (camera, name), on in accounts.switches().items():
            if camera in self.controls and name in SWITCHES:
                self.controls[camera].set(name, on)
                self.log.info("switch_from_ui", camera=camera, switch=name, on=on)

    def set(self, camera: str, name: str, on: bool, user: str | None, address: str | None = None) -> bool:
        """False if there is no such camera or switch."""
        if camera not in self.controls or name not in SWITCHES:
            return False
        self.controls[camera].set(name, on)
        if self.accounts is not None:
            try:
                self.accounts.set_switch(camera, name, on, user)
                detail = f"{camera} {name} {'on' if on else 'off'}"
                self.accounts.record("switch", user=user, address=address, detail=detail)
            except sqlite3.Error as exc:
                self.log.error("switch_not_kept", camera=camera, switch=name, error=str(exc))
        self.log.info("switch_changed", camera=camera, switch=name, on=on, by=user)
        self.publish(bus.SwitchChanged(camera, name, on, user or "?"))
        return True


@dataclass
class Listeners:
    """Everything that listens to the bus, each on a thread of its own (a Consumer): the event log,
    and the notifiers that are configured."""

    event_log: EventLog | None
    consumers: list[Consumer] = field(default_factory=list)
    notifiers: list[Any] = field(default_factory=list)  # each with name, sent, failed, dropped
    mqtt: MqttNotifier | None = None  # it has a connection to open and close
    stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        if self.mqtt is not None:
            self.mqtt.start()
        for consumer in self.consumers:
            consumer.start()

    def stop(self) -> None:
        """After the pipelines: their last events (an event's end, the last clip) are queued by then.
        Webhooks and mail try once more each, without waiting to retry."""
        self.stopping.set()
        for consumer in self.consumers:
            consumer.stop()
        deadline = time.monotonic() + CONSUMER_DRAIN_S + 0.5
        for consumer in self.consumers:
            consumer.join(deadline)
        if self.mqtt is not None:
            self.mqtt.stop()
        if self.event_log is not None:
            self.event_log.close()


def subscribers(
    events: Bus,
    settings: config.Config,
    log: Any,
    *,
    record: Callable[[str], bool],
    board: Switchboard,
    keeper: storage.StorageKeeper,
) -> Listeners:
    notify = settings.notify
    event_log = open_event_log(settings, log)
    listeners = Listeners(event_log)
    if event_log is not None:
        writer = EventLogWriter(event_log, log)
        listeners.consumers.append(Consumer(events.subscribe("eventlog"), writer.handle, log, drain_s=CONSUMER_DRAIN_S))
        keeper.motion_segments = lambda: event_log.segment_paths(motion=True)  # those are kept longer
    mask = camera_url.Masker(settings.secrets())
    cameras = tuple(camera.name for camera in settings.enabled)

    def add(name: str, notifier: Any, tick: Callable[[], None] | None = None) -> None:
        notifier.name = name
        listeners.notifiers.append(notifier)
        subscription = events.subscribe(name, NOTIFY_QUEUE)
        listeners.consumers.append(Consumer(subscription, notifier.handle, log, drain_s=CONSUMER_DRAIN_S, tick=tick))

    if notify.mqtt is not None:
        listeners.mqtt = MqttNotifier(
            notify, cameras, settings.video_dir, log, mask=mask, record=record, switches=board.state, switch=board.set
        )
        add("mqtt", listeners.mqtt)
    if notify.webhooks:
        for url in notify.webhooks:
            hook = WebhookNotifier(
                url, notify.webhook_secret, settings.video_dir, log, mask=mask, stopping=listeners.stopping
            )
            add(f"webhook {hook.name}", hook)
    if notify.smtp is not None:
        mail = MailNotifier(notify, cameras, log, mask=mask, stopping=listeners.stopping)
        add("email", mail, tick=mail.tick)
    if notify.hooks:
        add("hooks", HookRunner(dict(notify.hooks), notify.hook_timeout, settings.video_dir, log, mask=mask))
    return listeners


def snapshot(supervisor: Supervisor, keeper: storage.StorageKeeper, listeners: Listeners) -> Snapshot:
    """What the metrics show, read at scrape time from the counters the threads keep."""
    live, status = supervisor.summary()
    try:
        free: int | None = storage.free_bytes(keeper.video_dir)
    except OSError:
        free = None
    return Snapshot(
        live=live,
        status=status,
        cameras=tuple(p.stats() for p in supervisor.pipelines),
        used_bytes=keeper.used_bytes,
        free_bytes=free,
        deleted=dict(keeper.deleted),
        subscribers=tuple(Counts(c.subscription.name, dropped=c.subscription.dropped) for c in listeners.consumers),
        notifiers=tuple(
            Counts(n.name, sent=n.sent, failed=getattr(n, "failed", 0), dropped=getattr(n, "dropped", 0))
            for n in listeners.notifiers
        ),
    )


def web_server(
    settings: config.Config,
    *,
    supervisor: Supervisor,
    listeners: Listeners,
    board: Switchboard,
    lives: dict[str, LiveView],
    log: Any,
) -> WebServer | None:
    """The web UI (None when WEB_ADDR is off or the event database, which holds its users, is not
    there). Switches set earlier are applied here, before the cameras start."""
    if listeners.event_log is None:
        if settings.web.addr is not None:
            log.error("web_unavailable", problem="the web UI keeps its users in EVENTS_DB, which cannot be opened")
        return None
    try:
        accounts = Accounts(settings.events_db)
        board.restore(accounts)
        password = accounts.ensure_admin() if settings.web.addr is not None else None
    except (sqlite3.Error, OSError) as exc:
        log.error("web_unavailable", problem=f"EVENTS_DB: {exc}")
        return None
    if settings.web.addr is None:
        return None
    if password is not None:
        log.warning(
            "web_first_user",
            user="admin",
            password=password,
            note="said this once: log in to the web UI with it, then change it under Account",
        )

    def stats_of(name: str) -> Callable[[], Any]:
        return lambda: next((p.stats() for p in supervisor.pipelines if p.camera.name == name), None)

    def record_of(name: str) -> Callable[[], bool]:
        return lambda: supervisor.record(name)

    browsers = {c.name for c in settings.enabled if camera_url.scheme_of(c.url) == camera_url.BROWSER}
    cameras = {
        name: Camera(name, lives[name], controls, stats_of(name), record_of(name), name in browsers)
        for name, controls in board.controls.items()
    }
    site = Site(settings, accounts, listeners.event_log, cameras, log, board.set)
    return WebServer(site, settings.events_db.parent, log)


def write_health(path: Path, *, healthy: bool, status: str, stopping: bool) -> None:
    record = {"time": time.time(), "pid": os.getpid(), "healthy": healthy, "stopping": stopping, "status": status}
    with contextlib.suppress(OSError):  # a full disk must not stop the main loop; `vcam health` then says stale
        storage.atomic_write(path, json.dumps(record).encode(), root=path.parent, durable=False)


def open_event_log(settings: config.Config, log: Any) -> EventLog | None:
    """The event log, reconciled with the clips and segments on disk; recording goes on without it
    if it fails."""
    try:
        events = EventLog(settings.events_db)
        stored = storage.stored_files(settings.video_dir, settings.temp_dir)
        on_disk = [(f.camera, f.path, f.time, f.size) for f in stored if f.kind == "clip"]
        removed, added = events.reconcile(on_disk)
        segments_removed, segments_added = reconcile_segments(events, [f for f in stored if f.kind == "segment"])
    except (sqlite3.Error, OSError) as exc:
        log.error("eventlog_unavailable", path=str(settings.events_db), error=str(exc))
        return None
    if removed or added or segments_removed or segments_added:
        log.info(
            "eventlog_reconciled",
            rows_removed=removed + segments_removed,
            clips_added=added,
            segments_added=segments_added,
        )
    return events


def reconcile_segments(events: EventLog, on_disk: list[StoredFile]) -> tuple[int, int]:
    """Segment rows to match the files (as reconcile does for clips); a file saved while the event
    log could not be written gets its row, with its length read from the file."""
    found = {str(f.path): f for f in on_disk}
    known = events.segment_paths()
    gone, new = known - found.keys(), found.keys() - known
    events.forget(gone)
    for path in new:
        f = found[path]
        duration = scan.duration_of(f.path) or 0.0
        events.segment_saved(
            f.camera, f.path, start=f.time, duration=duration, size=f.size, partial=layout.is_partial(f.path)
        )
    return len(gone), len(new)
