"""What a camera connection hands out: stream facts, compressed packets and decoded frames."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import av
import cv2
import numpy as np

from vcam.decoding import GopMeter

# Pixel formats whose plane 0 is 8-bit luma: grayscale for free, no conversion.
_LUMA_PLANE_FORMATS = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}
)


@dataclass(frozen=True)
class StreamInfo:
    codec: str
    width: int
    height: int
    fps: float | None
    transport: str | None = None  # RTSP's: "tcp" or "udp"
    audio: str | None = None  # the camera's audio track, described ("aac, 44100 Hz, 2 channels"), if any


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture: ``time`` is stream seconds since connect, ``wall`` the epoch time it arrived."""

    time: float
    wall: float
    width: int
    height: int
    video: av.VideoFrame | None = None
    image: np.ndarray | None = None  # BGR, for sources that make pictures themselves (demo)
    index: int = 0  # frame number since the connection opened
    connection: int = 0  # which connection of the pipeline's it came from (set by the pipeline)

    def gray(self) -> np.ndarray:
        """8-bit luma; a view into the decoded frame where the pixel format allows (no copy)."""
        if self.video is None:
            assert self.image is not None
            return cv2.cvtColor(self.image, cv2.COLOR_BGR2GRAY)
        if self.video.format.name in _LUMA_PLANE_FORMATS:
            plane = self.video.planes[0]
            rows: np.ndarray = np.frombuffer(memoryview(plane), np.uint8).reshape(self.height, plane.line_size)
            return rows[:, : self.width]
        return self.video.to_ndarray(format="gray")

    def bgr(self) -> np.ndarray:
        if self.video is None:
            assert self.image is not None
            return self.image
        return self.video.to_ndarray(format="bgr24")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One packet as the camera sent it, its time on our timeline (seconds since connect), and the
    frames it decoded to (none while the decoder fills its pipeline or skips frames). An audio
    packet is never a keyframe and never decoded by the reader: it only goes into clips."""

    packet: av.Packet[Any]
    time: float
    keyframe: bool
    frames: tuple[Frame, ...]
    wall: float  # epoch seconds when it arrived: names clips in local time
    audio: bool = False

    def copy(self) -> Chunk:
        """The packet alone, in a packet of its own, for a second file: a muxer rewrites the times
        of the packet it is given (and may hold on to it), so two files never share one."""
        packet = self.packet
        own = av.Packet(bytes(packet))
        own.pts, own.dts, own.duration, own.time_base = packet.pts, packet.dts, packet.duration, packet.time_base
        own.is_keyframe = packet.is_keyframe
        return Chunk(own, self.time, self.keyframe, (), self.wall, self.audio)


class StreamTemplate:
    """The camera stream's codec parameters, kept in a container of their own so that clips can copy
    the stream after the connection is gone (a closed input's streams must not be touched)."""

    def __init__(
        self,
        codec: str,
        time_base: Fraction,
        build: av.VideoStream | None,
        width: int,
        height: int,
        *,
        parameter_sets: bytes | None = None,
    ) -> None:
        """``build``: the camera's stream; without one (the demo), the Annex B ``parameter_sets``."""
        self._holder = av.open(io.BytesIO(), "w", format="mp4")
        if build is not None:
            self.stream: av.VideoStream = self._holder.add_stream_from_template(build)
        else:
            stream = self._holder.add_stream(codec)
            assert isinstance(stream, av.VideoStream)
            self.stream = stream
            self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
            self.stream.time_base = time_base
            if parameter_sets:
                self.stream.codec_context.extradata = parameter_sets
        self.codec = codec
        self.time_base = time_base

    @classmethod
    def of(cls, stream: av.VideoStream) -> StreamTemplate:
        tb = stream.time_base or Fraction(1, 90000)
        ctx = stream.codec_context
        return cls(ctx.name, tb, stream, ctx.width, ctx.height)

    @classmethod
    def changed(cls, stream: av.VideoStream, width: int, height: int, parameter_sets: bytes) -> StreamTemplate:
        """The stream's template after the camera changed its picture mid-stream: the new size and
        the parameter sets that came with it."""
        template = cls.of(stream)
        template.stream.width, template.stream.height = width, height
        template.stream.codec_context.extradata = parameter_sets
        return template


# Copied into MP4 as it is; anything else (G.711, Opus, AAC in LATM framing) is turned into AAC.
COPYABLE_AUDIO = frozenset({"aac"})


class AudioTrack:
    """The camera's sound as clips need it after the connection is gone: its codec parameters in a
    container of their own (like StreamTemplate), and whether it can be copied or must be encoded."""

    def __init__(self, stream: av.AudioStream) -> None:
        ctx = stream.codec_context
        self.codec: str = ctx.name
        self.sample_rate: int = ctx.sample_rate
        self.channels: int = ctx.channels
        self.layout: str = ctx.layout.name
        self.extradata: bytes | None = ctx.extradata
        self.time_base = stream.time_base or Fraction(1, ctx.sample_rate or 8000)
        # AAC from RTSP (mpeg4-generic) carries its AudioSpecificConfig; without one MP4 cannot hold it
        self.copy = self.codec in COPYABLE_AUDIO and bool(self.extradata)
        if self.sample_rate <= 0 or self.channels <= 0:
            raise ValueError(f"{self.codec}: no sample rate or channels")
        self.stream: av.AudioStream | None = None  # for a copy: the parameters MP4 needs
        if self.copy:
            self._holder = av.open(io.BytesIO(), "w", format="mp4")
            self.stream = self._holder.add_stream_from_template(stream)
        else:
            av.CodecContext.create(self.codec, "r")  # raises where FFmpeg cannot decode it

    @staticmethod
    def describe_stream(stream: av.AudioStream) -> str:
        """For a person: "aac, 44100 Hz, 2 channels"."""
        ctx = stream.codec_context
        return f"{ctx.name}, {ctx.sample_rate} Hz, {ctx.channels} channel{'s' if ctx.channels != 1 else ''}"


_START_CODE = re.compile(b"\x00\x00\x01")
# NAL unit types of the parameter sets: H.264 SPS and PPS; H.265 VPS, SPS and PPS
_PARAMETER_SET_TYPES = {"h264": frozenset({7, 8}), "hevc": frozenset({32, 33, 34})}


def _nal_type(codec: str, first_byte: int) -> int:
    return first_byte & 0x1F if codec == "h264" else (first_byte >> 1) & 0x3F


def parameter_sets(codec: str, annex_b: bytes) -> bytes | None:
    """The parameter sets in an Annex B keyframe, as Annex B extradata; None if there are none
    (or the packet is not Annex B)."""
    kinds = _PARAMETER_SET_TYPES.get(codec)
    if kinds is None:
        return None
    units = [unit.rstrip(b"\x00") for unit in _START_CODE.split(annex_b)[1:]]
    found = [unit for unit in units if unit and _nal_type(codec, unit[0]) in kinds]
    return b"".join(b"\x00\x00\x00\x01" + unit for unit in found) or None


class Connection(Protocol):
    info: StreamInfo
    template: StreamTemplate | None  # None: the stream cannot be copied into MP4 (e.g. MJPEG)
    audio: AudioTrack | None  # the sound that goes into clips; None: none, or RECORD_AUDIO=off
    lagging: bool  # decoding keyframes only to catch up with the camera
    decoding: bool  # False: packets only, no pictures (a stream that is only recorded)
    idle: bool  # nothing moves: keyframes will do (granted where IDLE_DECODE and the GOP allow)
    keyframes: GopMeter | None  # how often keyframes come (None: a source that does not say)

    def chunks(self) -> Iterator[Chunk]:
        """Yields packets from the first keyframe on until the stream fails (SourceError) or the
        caller stops iterating."""
        ...

    def close(self) -> None: ...
