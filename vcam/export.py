"""``vcam export``: one MP4 from the continuous segments covering a time range, by stream copy
(no re-encoding), and the gaps in it (camera offline, recording off) said, not hidden.

Which segments and gaps is footage.cover's (pure); writing the file is the I/O at the end. The file
starts at the keyframe at or before FROM (a copy cannot start elsewhere) and ends at TO. Across a
gap the pictures follow one another: the file is as long as what was recorded.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from vcam.clipfiles import apple_tag
from vcam.footage import Cover, Span
from vcam.storage import fsync_dir

OUT_TIME_BASE = Fraction(1, 90000)


class ExportError(Exception):
    pass


@dataclass(frozen=True)
class Written:
    path: Path
    frames: int
    seconds: float


def write(covered: Cover, start: float, end: float, target: Path) -> Written:
    """Copy the pictures from ``start`` to ``end`` into ``target`` (made whole: written beside it,
    then renamed)."""
    if not covered.segments:
        raise ExportError("nothing was recorded in that time")
    partial = target.with_name(f".{target.name}.part")
    frames, cursor = 0, 0.0
    try:
        with av.open(covered.segments[0].path) as first:
            template = first.streams.video[0]
            output = av.open(str(partial), "w", format="mp4", options={"movflags": "+faststart"})
            with output:
                stream = output.add_stream_from_template(template)
                apple_tag(stream)
                for segment in covered.segments:
                    written, cursor = _copy(segment, start, end, output, stream, cursor=cursor)
                    frames += written
        if frames == 0:
            raise ExportError("no picture in that time")
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
        fsync_dir(target.parent)
    except (av.error.FFmpegError, OSError) as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise ExportError(str(getattr(exc, "strerror", None) or exc)) from None
    except ExportError:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise
    return Written(target, frames, cursor)


def _copy(
    segment: Span, start: float, end: float, output: av.container.OutputContainer, stream: Any, *, cursor: float
) -> tuple[int, float]:
    """One segment's packets from the keyframe at or before ``start`` to ``end``, placed from
    ``cursor`` seconds on in the file. Returns (pictures written, the new cursor)."""
    with av.open(segment.path) as source:
        video = source.streams.video[0]
        packets: list[tuple[av.Packet[Any], float, float, float]] = []  # (packet, its time, pts, dts in s)
        first = float((video.start_time or 0) * (video.time_base or OUT_TIME_BASE))
        for packet in source.demux(video):
            if packet.pts is None or packet.dts is None or packet.size == 0 or packet.time_base is None:
                continue
            pts, dts = float(packet.pts * packet.time_base), float(packet.dts * packet.time_base)
            at = segment.start + pts - first
            if at >= end:
                break
            if packet.is_keyframe and at <= start:
                packets = []  # a later keyframe still before ``start``: begin there
            step = float((packet.duration or 0) * packet.time_base)
            packets.append((packet, pts, dts, step))
        if not packets or not packets[0][0].is_keyframe:
            return 0, cursor
        origin = packets[0][2]
        last, step = cursor, 0.0
        for packet, pts, dts, duration in packets:
            step = duration or step
            packet.dts = round((dts - origin + cursor) / OUT_TIME_BASE)
            packet.pts = round((pts - origin + cursor) / OUT_TIME_BASE)
            packet.time_base, packet.stream = OUT_TIME_BASE, stream
            output.mux(packet)
            last = max(last, pts - origin + cursor)
        return len(packets), last + (step or 1 / 15)
