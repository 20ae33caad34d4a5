"""Browser cameras: a phone's or laptop's browser streams its camera to vcam over a WebSocket, as
the chunks its own encoder makes (MediaRecorder: H.264 in WebM, or fragmented MP4), and the
camera's reader reads them through FFmpeg like any stream.

A Feed is one device's stream: the web server writes the chunks as they arrive, the reader's
FFmpeg reads them from its own thread. FEEDS, the one registry of the process (like a port, a
camera name can be streamed to once), hands a waiting reader the device that connects for its
camera, and refuses a second device while the first is there.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

BROWSER = "browser"
MAX_BACKLOG_BYTES = 8 * 1024 * 1024  # chunks the reader has not taken yet: past this the device is cut off
MAX_CHUNK_BYTES = 2 * 1024 * 1024  # one MediaRecorder chunk (a quarter of a second) is far less
MAX_PIXELS = 1920 * 1080  # a device sending more is refused (memory)
MAX_FPS = 30.0

# what MediaRecorder types the page offers, in the order it should prefer them, and FFmpeg's
# name for their container. H.264 first: clips copy it without encoding (see README).
FORMATS = {
    "video/webm;codecs=h264": "webm",
    "video/webm;codecs=avc1": "webm",
    "video/mp4;codecs=avc1": "mp4",
    "video/webm;codecs=vp8": "webm",
}


def container_of(mime: str) -> str | None:
    return FORMATS.get(mime.replace(" ", "").lower())


class Feed:
    """One device's stream: ``write`` from the web server (never blocks), ``read`` for FFmpeg."""

    def __init__(self, camera: str, mime: str, read_timeout: float) -> None:
        self.camera = camera
        self.mime = mime
        self.format = container_of(mime) or "webm"
        self.read_timeout = read_timeout
        self.received = 0  # bytes
        self._chunks: queue.Queue[bytes | None] = queue.Queue()
        self._backlog = 0
        self._lock = threading.Lock()
        self._rest = b""
        self.closed = threading.Event()
        self.taken = threading.Event()  # a reader is reading it
        self.why: str | None = None  # why the feed ended, said by whoever ended it

    def write(self, data: bytes) -> bool:
        """False once the reader has fallen too far behind (the feed is then closed)."""
        if self.closed.is_set():
            return False
        with self._lock:
            self._backlog += len(data)
            over = self._backlog > MAX_BACKLOG_BYTES
        if over:
            self.close("the camera's reader fell behind the device")
            return False
        self.received += len(data)
        self._chunks.put(data)
        return True

    def close(self, why: str) -> None:
        if not self.closed.is_set():
            self.why = self.why or why
            self.closed.set()
            self._chunks.put(None)

    def read(self, size: int) -> bytes:
        """FFmpeg's read: what has come, up to ``size`` bytes; b"" at the end (the device left, or
        sent nothing for ``read_timeout``)."""
        while not self._rest:
            try:
                chunk = self._chunks.get(timeout=self.read_timeout)
            except queue.Empty:
                self.close(f"no data from the device for {self.read_timeout:g} s")
                return b""
            if chunk is None:
                self._chunks.put(None)  # stays at the end for any later read
                return b""
            with self._lock:
                self._backlog -= len(chunk)
            self._rest = chunk
        out, self._rest = self._rest[:size], self._rest[size:]
        return out


@dataclass
class Feeds:
    """The devices streaming to this process, by camera name."""

    _feeds: dict[str, Feed] = field(default_factory=dict)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def claim(self, camera: str, mime: str, read_timeout: float) -> Feed | None:
        """A new device for ``camera``; None while another one streams to it."""
        with self._changed:
            current = self._feeds.get(camera)
            if current is not None and not current.closed.is_set():
                return None
            feed = Feed(camera, mime, read_timeout)
            self._feeds[camera] = feed
            self._changed.notify_all()
            return feed

    def release(self, feed: Feed, why: str) -> None:
        feed.close(why)
        with self._changed:
            if self._feeds.get(feed.camera) is feed:
                del self._feeds[feed.camera]
            self._changed.notify_all()

    def ready(self, camera: str) -> bool:
        """Is a device streaming that no reader has taken yet?"""
        feed = self._feeds.get(camera)
        return feed is not None and not feed.closed.is_set() and not feed.taken.is_set()

    def take(self, camera: str, timeout: float) -> Feed | None:
        """The device's feed once one connects (within ``timeout``), for the camera's reader."""
        with self._changed:
            self._changed.wait_for(lambda: self.ready(camera), timeout)
            if not self.ready(camera):
                return None
            feed = self._feeds[camera]
            feed.taken.set()
            return feed


FEEDS = Feeds()
