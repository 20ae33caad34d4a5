"""Camera I/O: connect with timeouts, decode, hand out frames; every failure becomes a SourceError.

PyAV (FFmpeg) reads RTSP, HTTP MJPEG and files: it gives packet access for stream-copy recording,
real open/read timeouts and exact timestamps (OpenCV's VideoCapture repeats an old frame with ok=True
when a camera freezes, and cannot write H.264). The demo scene lives in demo.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import http.client
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import av
import av.error

from vcam import browser, camera_url
from vcam.config import CameraConfig
from vcam.decoding import IdleDecoding
from vcam.demo import demo_connection
from vcam.errors import (
    BAD_STREAM,
    ENDED,
    NO_ANSWER,
    NOT_FOUND,
    REFUSED,
    STALLED,
    TRANSPORT_REFUSED,
    UNAUTHORIZED,
    UNREACHABLE,
    WAITING,
    SourceError,
)
from vcam.frames import AudioTrack, Chunk, Connection, Frame, StreamInfo, StreamTemplate, parameter_sets

# Codecs that can be copied into MP4 as they are (browsers play H.264; H.265 plays on phones).
COPYABLE_CODECS = frozenset({"h264", "hevc"})

# How far decoding may fall behind the camera's clock before frames are skipped to catch up.
MAX_LAG_S = 2.0
CAUGHT_UP_S = 0.5
DRIFT_RESET_S = 10.0
MAX_JUMP_S = 10.0


def open_timeout(camera: CameraConfig) -> float:
    return camera.stall_timeout


def read_timeout(camera: CameraConfig) -> float:
    """FFmpeg gives up after one or two read timeouts, so half the stall timeout detects a stall in time."""
    return camera.stall_timeout / 2


def tcp_reachable(url: str, timeout: float = 0.5) -> bool:
    """Does the camera's port accept a TCP connection? Cheap enough to ask twice a second."""
    end = camera_url.endpoint(url)
    if end is None:
        return True
    try:
        with socket.create_connection((end.host, end.port), timeout=timeout):
            return True
    except OSError:
        return False


def connect(camera: CameraConfig) -> Connection:
    """Open the camera (demo, file or network), raising SourceError within the open timeout."""
    scheme = camera_url.scheme_of(camera.url)
    if scheme == camera_url.DEMO:
        return demo_connection(camera.motion)
    if scheme == camera_url.BROWSER:
        return BrowserConnection(camera)
    return AvConnection(camera, is_file=scheme == "file")


def back(camera: CameraConfig) -> bool:
    """Is a camera that was not there worth trying again now? (Its port opens; its device connects.)"""
    if camera_url.scheme_of(camera.url) == camera_url.BROWSER:
        return browser.FEEDS.ready(camera.name)
    return tcp_reachable(camera.url)


def _classify(exc: BaseException, elapsed: float, limit: float, *, opening: bool, url: str) -> SourceError:
    """A library error as one of the named reasons, with a detail a person can act on. The same
    fault gives the same reason every time, so the log says it once (see backoff.worth_logging)."""
    if isinstance(exc, (av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError)):
        if not camera_url.has_credentials(url):
            return SourceError(
                UNAUTHORIZED,
                "the camera needs a user name and password: write them into the URL, scheme://user:password@host/…",
            )
        return SourceError(UNAUTHORIZED, "the camera refused the user name or password")
    if isinstance(exc, av.error.HTTPNotFoundError):
        return SourceError(NOT_FOUND, "the camera has no stream at that path")
    if isinstance(exc, (av.error.FileNotFoundError, FileNotFoundError)):
        return SourceError(NOT_FOUND, "no such file")
    if isinstance(exc, ConnectionRefusedError):
        return SourceError(REFUSED, "connection refused (camera down or wrong port)")
    if isinstance(exc, av.error.ExitError) or elapsed >= 0.9 * limit:
        if opening:
            return SourceError(NO_ANSWER, f"no answer within {limit:g} s")
        return SourceError(STALLED, f"no data for {elapsed:.1f} s")
    code = getattr(exc, "errno", None)
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT) or (
        code in (errno.EIO, errno.ECONNRESET) and not tcp_reachable(url)
    ):
        return SourceError(UNREACHABLE, f"cannot reach the camera ({os.strerror(code or errno.EIO)})")
    if opening and camera_url.scheme_of(url) in ("http", "https") and serves_web_page(url, min(limit, 3.0)):
        return SourceError(BAD_STREAM, "the URL returned a web page, not a video stream (use the camera's stream URL)")
    # whatever else a server answered that is not a stream: one stable message, whatever the library said
    return SourceError(BAD_STREAM, "the camera's answer is not a video stream that can be read")


def _track(stream: av.AudioStream) -> AudioTrack | None:
    """The sound as clips take it; None where FFmpeg cannot describe it for a file (clips then
    carry the picture only)."""
    try:
        return AudioTrack(stream)
    except (av.error.FFmpegError, ValueError):
        return None


def transport_advice(asked: str) -> str:
    """What to say when a camera refused the RTSP transport(s) tried, and what to set instead."""
    if asked == "auto":
        return "the camera refused RTSP over both TCP and UDP (answer 461 Unsupported transport)"
    other = "udp" if asked == "tcp" else "tcp"
    return (
        f"the camera refused RTSP over {asked.upper()} (answer 461 Unsupported transport): "
        f"set RTSP_TRANSPORT=auto (or {other}) to use {other.upper()}"
    )


def serves_web_page(url: str, timeout: float) -> bool:
    """Does ``url`` answer with HTML? (A camera's web interface, where its stream URL was meant.)"""
    parts = urlsplit(url)
    plain = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, ""))
    try:
        with urllib.request.urlopen(plain, timeout=timeout) as answer:
            kind = answer.headers.get_content_type()
            head = answer.read(512).lstrip().lower()
    except urllib.error.HTTPError as exc:  # a login page answers 401 with HTML too
        kind, head = exc.headers.get_content_type(), b""
    except (OSError, ValueError, http.client.HTTPException):  # no HTTP answer at all: not a web page
        return False
    return kind in ("text/html", "application/xhtml+xml") or head.startswith((b"<!doctype html", b"<html"))


class LagTracker:
    """How far decoding runs behind the camera's clock, so a slow spell never leaves a backlog.

    The smallest (arrival - stream time) seen is "on time"; lag is how far past that a frame arrives.
    A lag that keyframe-only decoding does not shrink within DRIFT_RESET_S is the camera's clock
    drifting, not a backlog, so the baseline moves. A jump in stream time starts afresh.
    """

    def __init__(self) -> None:
        self.base: float | None = None
        self.last: float | None = None
        self.lagging_since: float | None = None

    def update(self, stream_time: float, arrival: float) -> bool:
        """Returns True while frames should be skipped to catch up."""
        offset = arrival - stream_time
        jumped = self.last is not None and not 0.0 <= stream_time - self.last < MAX_JUMP_S
        self.last = stream_time
        if self.base is None or offset < self.base or jumped:
            self.base = offset
            self.lagging_since = None
        lag = offset - self.base
        if self.lagging_since is None:
            if lag > MAX_LAG_S:
                self.lagging_since = arrival
        elif lag < CAUGHT_UP_S:
            self.lagging_since = None
        elif arrival - self.lagging_since > DRIFT_RESET_S:
            self.base = offset
            self.lagging_since = None
        return self.lagging_since is not None


@dataclass
class _Segment:
    """A stretch of a stream's timestamps without a jump: raw ``raw0`` is our time ``at``."""

    raw0: float
    at: float
    last_raw: float


REORDER_S = 1.0  # pictures may come this far before one already seen (B-frames), without a jump


class Timeline:
    """Seconds since the first frame, from the stream's own timestamps (exact, even when the
    advertised frame rate is wrong), continuous across file loops; by arrival time where the
    stream has no real timestamps.

    A camera's timestamps can jump: a gap of minutes, a wrap of the 33-bit RTP/MPEG clock, a reset.
    A jump (more than MAX_JUMP_S ahead, or more than REORDER_S back) starts a new segment that
    carries on one frame after the latest time: clip lengths are counted on time that really
    passed. Pictures from before the jump, which B-frames can bring after it, keep their segment."""

    def __init__(self, *, by_arrival: bool, step: float = 0.04) -> None:
        self.by_arrival = by_arrival
        self.step = step
        self.started: float | None = None
        self.segments: list[_Segment] = []
        self.last = 0.0
        self.jumps = 0
        self.untimed_start = False  # the first packet came without a timestamp (live RTSP does that)

    def stamp(self, raw: float | None, now: float) -> float:
        """Our time for a stream timestamp; a missing one counts as the latest time seen."""
        if self.started is None:
            self.started = now
        if self.by_arrival:
            value = now - self.started
        elif raw is None:
            self.untimed_start = self.untimed_start or not self.segments
            return self.last
        else:
            segment = self._segment_for(float(raw))
            value = float(raw) - segment.raw0 + segment.at
        self.last = max(self.last, value)
        return value

    def _segment_for(self, raw: float) -> _Segment:
        for segment in reversed(self.segments):
            if -REORDER_S <= raw - segment.last_raw <= MAX_JUMP_S:
                segment.last_raw = max(segment.last_raw, raw)
                return segment
        if self.segments:
            self.jumps += 1
        # one frame after the latest time; the first segment at 0, or one frame after an untimed first packet
        at = self.last + self.step if self.segments or self.last or self.untimed_start else 0.0
        segment = _Segment(raw, at, raw)
        self.segments = [*self.segments[-1:], segment]  # the one before stays for late B-frames
        return segment

    def place(self, raw: float) -> float | None:
        """Our time for a timestamp of another track of the stream (the sound), on the picture's
        segments; None where it fits none (before the first picture, or a clock of its own). The
        sound never starts a segment: it cannot move the picture's timeline."""
        if self.by_arrival:
            return None
        for segment in reversed(self.segments):
            if abs(raw - segment.last_raw) <= MAX_JUMP_S:
                return raw - segment.raw0 + segment.at
        return None

    def wall_elapsed(self, now: float) -> float:
        return 0.0 if self.started is None else now - self.started

    def restart(self) -> None:
        """The file starts over: carry on one frame after where it ended."""
        self.segments = []


def _timed(packet: av.Packet[Any]) -> bool:
    """Does the packet carry data and a time base (an empty one marks the end of a stream)?"""
    return packet.size > 0 and packet.time_base is not None


class AvConnection(IdleDecoding):
    """A camera or file read through PyAV. Files are paced to real time and looped, like a live feed."""

    def __init__(self, camera: CameraConfig, *, is_file: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.camera = camera
        self.is_file = is_file
        self.clock = clock
        self.lagging = False
        self.decoding = True
        scheme = camera_url.scheme_of(camera.url)
        # HTTP MJPEG carries no real timestamps (FFmpeg assumes 25 fps): time those frames by arrival.
        self.timed_by_arrival = scheme in ("http", "https")
        self.container, transport = self._open(scheme)
        if not self.container.streams.video:
            self.container.close()
            raise SourceError(BAD_STREAM, "the stream has no video track")
        # FFmpeg's default threading: "AUTO" (frame threads) cut wall time but cost 20 % more CPU here
        self.stream = self.container.streams.video[0]
        ctx = self.stream.codec_context
        rate = self.stream.average_rate or self.stream.guessed_rate
        sound = self.container.streams.audio[0] if self.container.streams.audio else None
        # HTTP MJPEG has no sound, and no timestamps to put any beside the pictures
        self.audio = _track(sound) if sound and camera.record.audio and not self.timed_by_arrival else None
        self.info = StreamInfo(
            ctx.name,
            ctx.width,
            ctx.height,
            float(rate) if rate else None,
            transport,
            None if sound is None else AudioTrack.describe_stream(sound),
        )
        self.template = StreamTemplate.of(self.stream) if ctx.name in COPYABLE_CODECS else None
        self.audio_dropped = 0  # sound packets that fit no picture's time
        self._decode_with(ctx, camera.motion)

    def _open(self, scheme: str) -> tuple[av.container.InputContainer, str | None]:
        """The opened input, and the RTSP transport it uses. With RTSP_TRANSPORT=auto, TCP is tried
        first (it survives Wi-Fi packet loss), then UDP when the camera refuses TCP (RTSP answer
        461 "Unsupported transport", which FFmpeg reports as "Protocol not supported")."""
        camera, started, limit = self.camera, self.clock(), open_timeout(self.camera)
        if self.is_file or scheme not in ("rtsp", "rtsps"):
            try:
                if self.is_file:
                    return av.open(camera.url), None
                return av.open(camera.url, timeout=(limit, read_timeout(camera))), None
            except (av.error.FFmpegError, OSError) as exc:
                raise _classify(exc, self.clock() - started, limit, opening=True, url=camera.url) from None
        order = ("tcp", "udp") if camera.transport == "auto" else (camera.transport,)
        for transport in order:
            options = {"rtsp_transport": transport, "analyzeduration": "1000000"}
            try:
                return av.open(camera.url, options=options, timeout=(limit, read_timeout(camera))), transport
            except (av.error.FFmpegError, OSError) as exc:
                if getattr(exc, "errno", None) != errno.EPROTONOSUPPORT:
                    raise _classify(exc, self.clock() - started, limit, opening=True, url=camera.url) from None
        raise SourceError(TRANSPORT_REFUSED, transport_advice(camera.transport))

    def chunks(self) -> Iterator[Chunk]:
        stall = self.camera.stall_timeout
        step = 1.0 / self.info.fps if self.info.fps else 0.04
        timeline = Timeline(by_arrival=self.timed_by_arrival, step=step)
        lag = LagTracker()
        last_frame_at = self.clock()
        index = 0
        started = False  # packets before the first keyframe cannot be decoded or recorded
        streams = [self.stream] if self.audio is None else [self.stream, self.container.streams.audio[0]]
        while True:
            try:
                for packet in self.container.demux(*streams):
                    if packet.stream_index != self.stream.index:
                        yield from self._sound(packet, timeline, last_frame_at, started=started)
                        continue
                    # nothing before the first keyframe; an empty packet is an end-of-stream marker
                    if not (started or self._first_keyframe(packet, last_frame_at)) or not _timed(packet):
                        continue
                    started = True
                    now = self.clock()
                    raw = packet.pts if packet.pts is not None else packet.dts
                    t = timeline.stamp(None if raw is None else float(raw * packet.time_base), now)
                    # a stream only recorded is not decoded: a packet shows it is alive
                    skipped = self.decoder.skipped_packets
                    frames = self._pictures(packet, t, timeline, now, index) if self.decoding else []
                    index += len(frames) + self.decoder.skipped_packets - skipped if self.decoding else 1
                    if frames or not self.decoding:
                        last_frame_at = now
                        if not self.timed_by_arrival:
                            self._keep_pace(frames[-1].time if frames else t, timeline.wall_elapsed(now), lag, now)
                    elif self.clock() - last_frame_at > stall:
                        raise SourceError(STALLED, f"no picture for {stall:g} s")
                    yield Chunk(packet, t, packet.is_keyframe, tuple(frames), time.time())
            except SourceError:
                raise
            except (av.error.FFmpegError, OSError) as exc:
                raise _classify(exc, self.clock() - last_frame_at, stall, opening=False, url=self.camera.url) from None
            if not self.is_file:
                raise SourceError(ENDED, self.ended())
            if index == 0:  # a whole pass of the file and not one picture: looping would only spin
                raise SourceError(BAD_STREAM, "no picture in the file could be decoded")
            self.container.seek(0)
            timeline.restart()

    def _sound(
        self, packet: av.Packet[Any], timeline: Timeline, last_frame_at: float, *, started: bool
    ) -> Iterator[Chunk]:
        """A sound packet on the picture's timeline; none before the first picture, or where its
        time fits no picture's. A camera that sends sound but no pictures is stalled all the same."""
        if self.clock() - last_frame_at > self.camera.stall_timeout:
            what = "picture" if started else "keyframe (whole picture)"
            raise SourceError(STALLED, f"no {what} for {self.camera.stall_timeout:g} s")
        if not started or packet.pts is None or not _timed(packet):
            return
        t = timeline.place(float(packet.pts * packet.time_base))
        if t is None:
            self.audio_dropped += 1
            return
        yield Chunk(packet, t, False, (), time.time(), audio=True)

    def _pictures(self, packet: av.Packet[Any], t: float, timeline: Timeline, now: float, index: int) -> list[Frame]:
        """The pictures a packet decodes to (all, or only keyframes: see KeyframeDecoder), on our
        timeline, numbered from ``index``."""
        frames: list[Frame] = []
        for video in self.decoder.decode(packet, t):
            t = timeline.stamp(video.time, now)
            frames.append(Frame(t, time.time(), video.width, video.height, video=video, index=index + len(frames)))
        if frames and (frames[-1].width, frames[-1].height) != (self.info.width, self.info.height):
            self._picture_changed(frames[-1].width, frames[-1].height, bytes(packet))
        return frames

    def _picture_changed(self, width: int, height: int, keyframe: bytes) -> None:
        """The camera changed its picture size mid-stream (reconfigured, a new SPS): the stream is
        described afresh; a copy takes the new parameter sets from the keyframe that brought them
        (the old ones describe the old picture), or, where they cannot be found, the clips are
        encoded instead. The pipeline sees a new ``info``."""
        self.info = dataclasses.replace(self.info, width=width, height=height)
        if self.template is not None:
            sets = parameter_sets(self.info.codec, keyframe)
            self.template = None if sets is None else StreamTemplate.changed(self.stream, width, height, sets)

    def ended(self) -> str:
        return "the camera ended the stream"

    def _first_keyframe(self, packet: av.Packet[Any], since: float) -> bool:
        """Is this the first packet to use? Nothing decodes before a keyframe. A live stream's first
        keyframe can come before FFmpeg knows its time (RTSP: no pts yet): without B-frames it
        stood one frame before the next packet (see Timeline); with B-frames the next packets come
        out of order and it cannot be placed, so such a stream starts at the first keyframe that
        has a time. A camera that never sends a keyframe is stalled."""
        if self.clock() - since > self.camera.stall_timeout:
            raise SourceError(STALLED, f"no keyframe (whole picture) for {self.camera.stall_timeout:g} s")
        untimed = packet.pts is None and bool(self.stream.codec_context.has_b_frames)
        return packet.is_keyframe and _timed(packet) and not untimed

    def _keep_pace(self, stream_elapsed: float, wall_elapsed: float, lag: LagTracker, now: float) -> None:
        """Files play at real speed. While decoding runs behind a camera, decode keyframes only
        (about 7x cheaper) until it has caught up."""
        if self.is_file:
            ahead = stream_elapsed - wall_elapsed
            if ahead > 0:
                time.sleep(min(ahead, 1.0))
            return
        self.lagging = self.decoder.lagging = lag.update(stream_elapsed, now)

    def close(self) -> None:
        with contextlib.suppress(av.error.FFmpegError, OSError):  # a broken connection: nothing left to save
            self.container.close()


RATE_WINDOW_S = 5.0  # a browser camera's picture rate is checked over this


class BrowserConnection(AvConnection):
    """A browser camera: the device's MediaRecorder chunks, read from its Feed (browser.py) once it
    connects; until then "waiting for the device"."""

    def __init__(self, camera: CameraConfig) -> None:
        self.feed: browser.Feed | None = None
        super().__init__(camera, is_file=False)
        info = self.info
        if info.width * info.height > browser.MAX_PIXELS:
            self.close()
            raise SourceError(BAD_STREAM, f"the device sends {info.width}x{info.height}: at most 1920x1080")

    def _open(self, scheme: str) -> tuple[av.container.InputContainer, str | None]:
        feed = browser.FEEDS.take(self.camera.name, open_timeout(self.camera))
        if feed is None:
            raise SourceError(WAITING, "waiting for the device: open this camera's page of the web UI on it")
        self.feed = feed
        try:
            options = {"probesize": "65536", "analyzeduration": "0"}
            return av.open(feed, mode="r", format=feed.format, options=options), None
        except (av.error.FFmpegError, OSError) as exc:
            feed.close("its stream could not be read")
            raise SourceError(BAD_STREAM, f"the device's stream ({feed.mime}) cannot be read: {exc}") from None

    def chunks(self) -> Iterator[Chunk]:
        """As any stream's, but a device sending far more pictures than asked for is cut off."""
        window_start, pictures = self.clock(), 0
        for chunk in super().chunks():
            pictures += not chunk.audio
            elapsed = self.clock() - window_start
            if elapsed >= RATE_WINDOW_S:
                if pictures / elapsed > browser.MAX_FPS * 1.5:
                    raise SourceError(
                        BAD_STREAM, f"the device sends {pictures / elapsed:.0f} pictures a second: at most 30"
                    )
                window_start, pictures = self.clock(), 0
            yield chunk

    def ended(self) -> str:
        why = self.feed.why if self.feed is not None else None
        return f"the device stopped streaming ({why or 'its page was closed, or its network lost'})"

    def close(self) -> None:
        super().close()
        if self.feed is not None:
            browser.FEEDS.release(self.feed, "the camera's connection closed")
