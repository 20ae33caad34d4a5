"""``vcam scan``: the live detector and event logic run over a video file as fast as it decodes."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import av.error

from vcam.config import MotionSettings
from vcam.decoding import KeyframeDecoder
from vcam.frames import Frame
from vcam.motion import EventTracker, IdlePolicy, MotionDetector, MotionEvent, shapes_outside, steps_between
from vcam.schedule import Every

Progress = Callable[[int, float], None]


class ScanError(Exception):
    pass


@dataclass(frozen=True)
class ScanResult:
    events: list[MotionEvent]
    frames: int  # in the file (numbered), decoded or not
    duration: float
    warnings: tuple[str, ...] = ()
    damaged: int = 0  # packets skipped because they could not be decoded
    decoded: int = 0  # pictures decoded: fewer than frames where only keyframes were (IDLE_DECODE)


def detect_events(
    frames: Iterable[Frame],
    settings: MotionSettings,
    progress: Progress | None = None,
    idle: Callable[[bool], None] | None = None,
) -> ScanResult:
    """The same gate, detector, tracker and idle policy as the live pipeline, over frames with
    their own times; ``idle`` is told, after each analysis, whether keyframes would do."""
    detector: MotionDetector | None = None
    tracker = EventTracker(settings.min_frames, settings.post_seconds)
    policy = IdlePolicy(settings.idle_decode == "keyframes")
    analysed_at: float | None = None
    gate = Every(1 / settings.detect_fps)  # analyse at most DETECT_FPS frames a second, as live
    events: list[MotionEvent] = []
    warnings: list[str] = []
    count, step, last_time, last_index = 0, 0.04, 0.0, -1
    for frame in frames:
        if count:
            step = frame.time - last_time if frame.time > last_time else step
        count, last_time, last_index = count + 1, frame.time, frame.index
        if progress is not None and frame.index % 50 == 0:
            progress(frame.index, frame.time)
        if not gate.due(frame.time):
            continue
        if detector is None:
            detector = MotionDetector(settings, frame.width, frame.height)
            warnings = shapes_outside(settings, frame.width, frame.height)
        since = frame.time - analysed_at if analysed_at is not None else 0.0
        detection = detector.detect(frame.gray(), steps_between(since, settings.detect_fps))
        analysed_at = frame.time
        moving = detection.area >= settings.min_area
        change = tracker.update(frame.time, frame.index, frame.wall, detection, moving)
        if change is not None and change.kind == "ended":
            events.append(change.event)
        if idle is not None:
            idle(policy.idle(frame.time, moving, tracker.active is not None))
    duration = last_time + step if count else 0.0
    last = tracker.finish(duration, last_index + 1)
    if last is not None:
        events.append(last.event)
    return ScanResult(events, last_index + 1 if count else 0, duration, tuple(warnings), decoded=count)


# Demuxers FFmpeg uses for a single picture: a still image is not something to scan.
STILL_IMAGE_FORMATS = frozenset({"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif"})
MAX_DAMAGED_IN_A_ROW = 500  # past this many unreadable packets in a row, the rest is given up


def scan(path: Path, settings: MotionSettings, progress: Progress | None = None) -> ScanResult:
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise ScanError(f"{path}: cannot read it as a video ({_reason(exc)})") from None
    with container:
        if not container.streams.video:
            raise ScanError(f"{path}: has no video track")
        stream = container.streams.video[0]
        if container.format.name in STILL_IMAGE_FORMATS or stream.codec_context.name in ("png", "bmp", "webp"):
            raise ScanError(f"{path}: is a still image, not a video")
        reader = _Reader(container, stream, path, settings)
        result = detect_events(reader.frames(), settings, progress, idle=reader.set_idle)
    if result.frames == 0:
        raise ScanError(f"{path}: no frame could be decoded")
    # pictures after the last one decoded (keyframes only, nothing moving) still count and last
    frames = max(result.frames, reader.numbered)
    duration = max(result.duration, reader.numbered * reader.step)
    return dataclasses.replace(result, damaged=reader.damaged, frames=frames, duration=duration)


def duration_of(path: Path) -> float | None:
    """The file's length in seconds, for a progress bar; None if the container does not say."""
    try:
        with av.open(str(path)) as container:
            return float(container.duration) / av.time_base if container.duration else None
    except (av.error.FFmpegError, OSError):
        return None


class _Reader:
    """Every decodable frame of a file; damaged packets are skipped and counted, and frame
    numbers go on counting them, so a frame keeps its number in the file after the damage.
    Time is the frame's own presentation time (a variable frame rate is common in phone and
    camera recordings); frame number x nominal frame duration only where a frame has none."""

    def __init__(
        self, container: av.container.InputContainer, stream: av.VideoStream, path: Path, settings: MotionSettings
    ) -> None:
        self.container, self.stream, self.path = container, stream, path
        self.damaged = 0
        self.numbered = 0  # frames counted so far, decoded or not
        rate = stream.average_rate or stream.guessed_rate
        self.step = 1.0 / float(rate) if rate else 0.04  # a frame's duration, where frames have no time
        allowed = settings.idle_decode == "keyframes"
        self.decoder = KeyframeDecoder(stream.codec_context, settings.idle_max_gop, keyframes_allowed=allowed)

    def set_idle(self, idle: bool) -> None:
        self.decoder.idle = idle

    def _decode(self, packet: av.Packet[Any], fallback_time: float) -> list[av.VideoFrame] | None:
        """The packet's pictures, or None if it is damaged."""
        damaged = self.decoder.damaged
        try:
            videos = self.decoder.decode(packet, _packet_time(packet, fallback_time))
        except av.error.FFmpegError:
            return None
        return None if self.decoder.damaged != damaged else videos

    def frames(self) -> Iterator[Frame]:
        step = self.step
        index, in_a_row = 0, 0
        first: float | None = None
        wall = time.time()
        while in_a_row <= MAX_DAMAGED_IN_A_ROW:
            try:
                for packet in self.container.demux(self.stream):
                    skipped = self.decoder.skipped_packets
                    videos = self._decode(packet, index * step)
                    if videos is None:
                        self.damaged += 1
                        in_a_row += 1
                        index += 1  # the frame this packet held is missing, not the numbering
                        continue
                    in_a_row = 0
                    index += self.decoder.skipped_packets - skipped  # not decoded, but numbered
                    for video in videos:
                        if video.time is not None and first is None:
                            first = video.time - index * step
                        t = index * step if video.time is None or first is None else video.time - first
                        yield Frame(t, wall + t, video.width, video.height, video=video, index=index)
                        index += 1
                    self.numbered = index
                return  # the end of the file
            except av.error.FFmpegError:  # the container itself is damaged here: read on past it
                self.damaged += 1
                in_a_row += 1


def _packet_time(packet: av.Packet[Any], fallback: float) -> float:
    """A packet's time in seconds, for telling how far apart keyframes are."""
    raw = packet.pts if packet.pts is not None else packet.dts
    if raw is None or packet.time_base is None:
        return fallback
    return float(raw * packet.time_base)


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc)


def event_row(event: MotionEvent) -> dict[str, float | int]:
    """What ``vcam scan --json`` prints for an event."""
    return {
        "start": round(event.start, 3),
        "end": round(event.end if event.end is not None else event.last_motion, 3),
        "start_frame": event.start_frame,
        "end_frame": event.end_frame if event.end_frame is not None else event.last_motion_frame,
        "peak_area": round(event.peak_area, 2),
    }
