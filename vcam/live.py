"""What the web UI changes on a running camera (its switches), and the pictures its live view
shows: both outlive a pipeline that the supervisor replaces.

The live view costs nothing while nobody watches: the reader hands over a reference to a picture
it decoded anyway (at most LIVE_FPS a second, only while someone watches); the JPEG is made on
the web server's thread, once per picture whatever the number of viewers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2

from vcam.config import CameraConfig
from vcam.frames import Frame
from vcam.schedule import Every

SWITCHES = ("detect", "record", "snapshots")
JPEG_QUALITY = 70


@dataclass
class Controls:
    """A camera's switches, set from the UI, the API or MQTT and read by its worker at each
    picture (a bool attribute is written whole: no lock on the capture path).

    detect off: no motion detection (so no events, and no clips from motion); record off: motion
    is detected and logged but starts no clip; snapshots off: no periodic snapshots."""

    detect: bool = True
    record: bool = True
    snapshots: bool = True

    def get(self, name: str) -> bool:
        return bool(getattr(self, _checked(name)))

    def set(self, name: str, value: bool) -> None:
        setattr(self, _checked(name), value)


def _checked(name: str) -> str:
    if name not in SWITCHES:
        raise KeyError(name)
    return name


class LiveView:
    @classmethod
    def of(cls, camera: CameraConfig) -> LiveView:
        """As the camera's LIVE_FPS and LIVE_WIDTH say."""
        return cls(camera.live_fps, camera.live_width)

    def __init__(self, fps: float, width: int) -> None:
        self.fps = fps
        self.width = width
        self._lock = threading.Lock()
        self._watchers = 0
        self._gate = Every(1 / fps) if fps > 0 else Every(0)
        self._frame: Frame | None = None
        self.version = 0  # bumped with each picture kept
        self._jpeg: tuple[int, bytes] | None = None
        self.on_watch: Callable[[], None] | None = None  # the pipeline's: decode every picture now

    @property
    def watched(self) -> bool:
        return self._watchers > 0

    def watch(self) -> None:
        with self._lock:
            self._watchers += 1
        if self.on_watch is not None:
            self.on_watch()

    def unwatch(self) -> None:
        with self._lock:
            self._watchers = max(0, self._watchers - 1)
            if not self._watchers:
                self._frame = None  # holds a decoder buffer: let it go
                self._jpeg = None

    def offer(self, frame: Frame) -> None:
        """Called by the reader with each picture it decoded; cheap when nobody watches."""
        if not self._watchers or not self._gate.due(frame.wall):
            return
        with self._lock:
            self._frame = frame
            self.version += 1

    def jpeg(self) -> tuple[int, bytes] | None:
        """(version, JPEG) of the newest picture, made once per picture."""
        with self._lock:
            frame, version, cached = self._frame, self.version, self._jpeg
        if frame is None:
            return None
        if cached is not None and cached[0] == version:
            return cached
        made = (version, encode(frame, self.width))
        with self._lock:
            self._jpeg = made
        return made


def encode(frame: Frame, max_width: int) -> bytes:
    """A JPEG at most ``max_width`` wide: scaled and converted in one pass."""
    width = min(max_width, frame.width)
    height = max(2, round(frame.height * width / frame.width / 2) * 2)
    picture: Any
    if frame.video is not None:
        picture = frame.video.reformat(width=width, height=height, format="bgr24").to_ndarray()
    else:
        assert frame.image is not None
        picture = frame.image if width == frame.width else cv2.resize(frame.image, (width, height))
    ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(data)
