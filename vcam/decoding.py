"""Decoding a camera's pictures, all of them or only the keyframes.

Most of a camera's day nothing moves, and a keyframe every second or two is enough to see that
something starts to: decoding only those costs about a fifth of decoding every picture. When the
pipeline wants every picture again (a keyframe showed motion), the packets skipped since the last
keyframe are decoded first, their pictures thrown away, so the decoder has the references the
next picture needs (without them it would show smeared pictures until the next keyframe).

GopMeter is pure; KeyframeDecoder drives PyAV's decoder. Used by the live source and `vcam scan`.
"""

from __future__ import annotations

import contextlib
from collections import deque
from fractions import Fraction
from typing import Any

import av
import av.error

from vcam.config import MotionSettings

GOPS_MEASURED = 4  # keyframe intervals looked at before keyframes-only decoding may start
GOP_TOLERANCE_S = 0.1  # a camera's "every 2 s" wobbles by a frame or two


class GopMeter:
    """The time between a stream's keyframes: keyframes-only decoding is for streams whose last
    GOPS_MEASURED intervals were each at most ``max_gop`` seconds."""

    def __init__(self, max_gop: float) -> None:
        self.max_gop = max_gop
        self._last: float | None = None
        self.intervals: deque[float] = deque(maxlen=GOPS_MEASURED)

    def keyframe(self, t: float) -> None:
        if self._last is not None and t > self._last:
            self.intervals.append(t - self._last)
        self._last = t

    @property
    def known(self) -> bool:
        return len(self.intervals) == GOPS_MEASURED

    @property
    def longest(self) -> float | None:
        return max(self.intervals) if self.intervals else None

    @property
    def short_enough(self) -> bool:
        return self.known and max(self.intervals) <= self.max_gop + GOP_TOLERANCE_S


def _pictures(
    context: av.VideoCodecContext, packet: av.Packet[Any] | None, time_base: Fraction | None
) -> list[av.VideoFrame]:
    """The pictures, timed in the stream's time base (which the codec forgets at a flush)."""
    frames = [frame for frame in context.decode(packet) if isinstance(frame, av.VideoFrame)]
    if time_base is not None:
        for frame in frames:
            frame.time_base = time_base
    return frames


class KeyframeDecoder:
    """Decodes a video stream's packets in order. ``idle`` (set by whoever analyses the pictures)
    asks for keyframes only; it is granted once the stream's keyframes are known to come often
    enough (GopMeter). ``lagging`` (set by the source when decoding falls behind the camera) skips
    to keyframes whatever the GOP."""

    def __init__(self, context: av.VideoCodecContext, max_gop: float, *, keyframes_allowed: bool) -> None:
        self.context = context
        self.meter = GopMeter(max_gop)
        self.keyframes_allowed = keyframes_allowed  # IDLE_DECODE=keyframes
        self.idle = False
        self.lagging = False
        self.skipping = False
        self.skipped_packets = 0  # packets not decoded (counted for the numbering of frames)
        self.damaged = 0  # packets that could not be decoded (skipped; a stream of them is a stall)
        # while skipping: the keyframe the decoder last saw (if it was flushed since) and the packets
        # after it, to catch up from
        self._gop: list[av.Packet[Any]] = []
        self._stale_pts: int | None = None  # pictures up to here are the catch-up's: not handed out

    def decode(self, packet: av.Packet[Any], t: float) -> list[av.VideoFrame]:
        if packet.is_keyframe:
            self.meter.keyframe(t)
        skip = self.lagging or (self.idle and self.keyframes_allowed and self.meter.short_enough)
        if skip != self.skipping:
            self._switch(skip)
        if self.skipping:
            return self._keyframe_only(packet)
        return self._fresh(self._decoded(packet))

    def _keyframe_only(self, packet: av.Packet[Any]) -> list[av.VideoFrame]:
        """Skipping: keyframes are decoded and handed out at once, the rest only kept."""
        if not packet.is_keyframe:
            if packet.size:
                self._gop.append(packet)
                self.skipped_packets += 1
            return []
        self._gop = [packet]
        frames = self._decoded(packet)
        # A decoder that reorders pictures (B-frames) holds the keyframe's back until more packets
        # come, a whole GOP here: drain it now, and start afresh (the keyframe is kept to catch up).
        with contextlib.suppress(av.error.FFmpegError, EOFError):
            frames += _pictures(self.context, None, packet.time_base)
        self.context.flush_buffers()
        return self._fresh(frames)

    def _switch(self, skip: bool) -> None:
        self.skipping = skip
        if not skip:  # catch up: the decoder needs the pictures since the last keyframe as references
            for missed in self._gop:
                with contextlib.suppress(av.error.InvalidDataError):
                    _pictures(self.context, missed, missed.time_base)  # their pictures are old news
            times = [p.pts for p in self._gop if p.pts is not None]
            self._stale_pts = max(times) if times else self._stale_pts
        self._gop = []

    def _decoded(self, packet: av.Packet[Any]) -> list[av.VideoFrame]:
        try:
            return _pictures(self.context, packet, packet.time_base)
        except av.error.InvalidDataError:
            self.damaged += 1
            return []

    def _fresh(self, frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
        """Without the pictures of a catch-up, which a reordering decoder hands out late."""
        stale = self._stale_pts
        if stale is None:
            return frames
        return [f for f in frames if f.pts is None or f.pts > stale]


class IdleDecoding:
    """For a connection that decodes through a KeyframeDecoder: ``idle`` (set by the reader) is
    the decoder's, and the decoder follows the camera's IDLE_DECODE and IDLE_MAX_GOP."""

    decoder: KeyframeDecoder
    keyframes: GopMeter | None

    def _decode_with(self, context: av.VideoCodecContext, motion: MotionSettings) -> None:
        allowed = motion.idle_decode == "keyframes"
        self.decoder = KeyframeDecoder(context, motion.idle_max_gop, keyframes_allowed=allowed)
        self.keyframes = self.decoder.meter

    @property
    def idle(self) -> bool:
        return self.decoder.idle

    @idle.setter
    def idle(self, value: bool) -> None:
        self.decoder.idle = value
