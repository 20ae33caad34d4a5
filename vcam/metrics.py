"""Prometheus metrics at http://METRICS_ADDR/metrics, and /healthz: read from a stats snapshot at
scrape time (never counted per frame), served by a small threaded HTTP server of its own.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from vcam import __version__

if TYPE_CHECKING:
    from vcam.pipeline import CameraStats

REQUEST_TIMEOUT_S = 10.0  # a scraper that stops talking frees its thread after this


@dataclass(frozen=True)
class Counts:
    """What a notifier or bus subscriber has done."""

    name: str
    sent: int = 0
    failed: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class Snapshot:
    live: bool
    status: str
    cameras: tuple[CameraStats, ...]
    used_bytes: int | None
    free_bytes: int | None
    deleted: dict[str, int] = field(default_factory=dict)  # files, by reason
    subscribers: tuple[Counts, ...] = ()  # dropped: events lost while the queue was full
    notifiers: tuple[Counts, ...] = ()


# (metric, help, kind, field of CameraStats)
CAMERA_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("vcam_camera_frames", "Pictures decoded", "counter", "frames"),
    ("vcam_camera_frames_analysed", "Pictures the motion detector looked at", "counter", "analysed"),
    ("vcam_camera_frames_dropped", "Pictures the detector never took (it takes the newest)", "counter", "dropped"),
    (
        "vcam_camera_packets_dropped",
        "Packets the recorder could not take (it fell behind)",
        "counter",
        "packets_dropped",
    ),
    ("vcam_camera_reconnects", "Reconnections to the camera", "counter", "reconnects"),
    ("vcam_camera_motion_events", "Motion events started", "counter", "events"),
    ("vcam_camera_clips", "Clips saved", "counter", "clips_saved"),
    ("vcam_camera_clip_bytes", "Bytes of the clips saved", "counter", "bytes_written"),
    ("vcam_camera_fps", "Pictures a second from the camera", "gauge", "fps_in"),
    ("vcam_camera_fps_analysed", "Pictures a second analysed", "gauge", "fps_analysed"),
    ("vcam_camera_recorder_backlog", "Packets queued for the recorder", "gauge", "recorder_backlog"),
)


class VcamCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot()
        yield InfoMetricFamily("vcam", "vcam's version", value={"version": __version__})
        yield GaugeMetricFamily("vcam_up", "1 while every camera pipeline makes progress", value=int(s.live))
        up = GaugeMetricFamily("vcam_camera_up", "1 while the camera streams", labels=["camera"])
        motion = GaugeMetricFamily("vcam_camera_motion", "1 while a motion event is open", labels=["camera"])
        recording = GaugeMetricFamily("vcam_camera_recording", "1 while a clip is written", labels=["camera"])
        age = GaugeMetricFamily(
            "vcam_camera_last_frame_age_seconds", "Seconds since the newest picture", labels=["camera"]
        )
        for c in s.cameras:
            up.add_metric([c.camera], int(c.connected))
            motion.add_metric([c.camera], int(c.motion))
            recording.add_metric([c.camera], int(c.recording))
            if c.last_frame_age is not None:
                age.add_metric([c.camera], c.last_frame_age)
        yield from (up, motion, recording, age)
        for name, text, kind, attribute in CAMERA_METRICS:
            family: Any = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(
                name, text, labels=["camera"]
            )
            for c in s.cameras:
                family.add_metric([c.camera], getattr(c, attribute))
            yield family
        if s.used_bytes is not None:
            yield GaugeMetricFamily("vcam_storage_used_bytes", "Clips and snapshots in VIDEO_DIR", value=s.used_bytes)
        if s.free_bytes is not None:
            yield GaugeMetricFamily(
                "vcam_storage_free_bytes", "Free space on VIDEO_DIR's filesystem", value=s.free_bytes
            )
        deleted = CounterMetricFamily("vcam_files_deleted", "Files deleted by retention", labels=["reason"])
        for reason in (
            "age",
            "max_storage",
            "min_free",
            *sorted(s.deleted.keys() - {"age", "max_storage", "min_free"}),
        ):
            deleted.add_metric([reason], s.deleted.get(reason, 0))
        yield deleted
        behind = CounterMetricFamily("vcam_bus_dropped", "Events a subscriber lost while behind", labels=["subscriber"])
        for counts in s.subscribers:
            behind.add_metric([counts.name], counts.dropped)
        yield behind
        sent = CounterMetricFamily("vcam_notifications_sent", "Messages delivered", labels=["notifier"])
        failed = CounterMetricFamily("vcam_notifications_failed", "Deliveries given up on", labels=["notifier"])
        dropped = CounterMetricFamily(
            "vcam_notifications_dropped", "Messages not sent (receiver away)", labels=["notifier"]
        )
        for counts in s.notifiers:
            sent.add_metric([counts.name], counts.sent)
            failed.add_metric([counts.name], counts.failed)
            dropped.add_metric([counts.name], counts.dropped)
        yield from (sent, failed, dropped)


def registry(snapshot: Callable[[], Snapshot]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(VcamCollector(snapshot))
    registry.register(ProcessCollector(registry=None))  # CPU seconds, resident memory, open files
    return registry


class MetricsServer:
    """GET /metrics and /healthz; anything else is 404. Each request on a daemon thread."""

    def __init__(self, address: tuple[str, int], snapshot: Callable[[], Snapshot], log: Any) -> None:
        self.address = address
        self.snapshot = snapshot
        self.registry = registry(snapshot)
        self.log = log
        self._server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> bool:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = REQUEST_TIMEOUT_S
            server_version = f"vcam/{__version__}"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._answer(200, generate_latest(outer.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    s = outer.snapshot()
                    self._answer(
                        200 if s.live else 503, (("ok: " if s.live else "wedged: ") + s.status + "\n").encode()
                    )
                else:
                    self._answer(404, b"not found: /metrics or /healthz\n")

            def _answer(self, status: int, body: bytes, kind: str = "text/plain; charset=utf-8") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # a scrape every 15 s is no news for the journal

        try:
            self._server = http.server.ThreadingHTTPServer(self.address, Handler)
        except OSError as exc:
            self.log.error(
                "metrics_unavailable", addr=f"{self.address[0]}:{self.address[1]}", error=exc.strerror or str(exc)
            )
            return False
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        self.log.info("metrics_serving", url=f"http://{self.address[0]}:{self._server.server_address[1]}/metrics")
        return True

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
