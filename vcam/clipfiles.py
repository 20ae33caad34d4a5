"""Clip files: written as fragmented MP4 into TEMP_DIR while recording (a killed writer leaves a
playable file), then remuxed to an ordinary MP4 (index at the front: plays at once in any browser
or phone) and moved into VIDEO_DIR whole. Leftovers from a crash are recovered at start-up.

What the files are; when they start and end is the recorder's (recorder.py, clips.py).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from vcam import layout, overlay, storage
from vcam.config import ANNOTATED, PASSTHROUGH
from vcam.frames import AudioTrack, Chunk, StreamInfo, StreamTemplate
from vcam.motion import Box

LIVE_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
# x264 "ultrafast" at CRF 27 with one thread: measured the cheapest CPU per frame that still looks
# fine at 720p (see README); a 2 s GOP so a killed clip loses at most 2 s.
ENCODER_OPTIONS = {"preset": "ultrafast", "crf": "27", "tune": "zerolatency", "threads": "1"}
ENCODER_TIME_BASE = Fraction(1, 1000)
GOP_SECONDS = 2


class RecordError(Exception):
    """A clip could not be written (disk full, read-only, unwritable); the camera keeps running."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


@dataclass(frozen=True)
class SavedClip:
    path: Path
    start: float  # epoch seconds of its first frame
    duration: float
    frames: int
    size: int
    mode: str
    partial: bool
    segment: bool = False  # a continuous segment, not an event's clip


# --- moving finished clips ------------------------------------------------------------------


def apple_tag(stream: av.VideoStream) -> None:
    """H.265 is tagged ``hvc1`` (parameter sets in the file's header), not FFmpeg's default
    ``hev1``: Safari and iPhones play only hvc1. H.264's ``avc1`` plays everywhere as it is."""
    if stream.codec_context.codec.canonical_name == "hevc":  # a template stream names its encoder
        stream.codec_context.codec_tag = "hvc1"


class EmptyClip(RecordError):
    """A clip file with no frame in it (a kill right after it was opened): nothing to keep."""


def publish(source: Path, target: Path) -> None:
    """Move a finished file into place whole: rename on one filesystem, else copy, fsync, rename."""
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: TEMP_DIR on another filesystem
            raise
        partial = target.with_name(f".{target.name}.part")
        try:
            shutil.copyfile(source, partial)
            with open(partial, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        source.unlink()
    storage.fsync_dir(target.parent)


def remux(fragmented: Path, target: Path) -> tuple[float, int]:
    """Copy the readable packets of a fragmented MP4 (picture and sound) into an ordinary MP4 with
    the index in front.

    Returns (duration of the picture in seconds, pictures). Raises RecordError if no picture could be read.
    """
    count, end = 0, 0.0
    try:
        with av.open(str(fragmented)) as source:
            if not source.streams.video:
                raise RecordError(f"{fragmented.name}: no video in it")
            video = source.streams.video[0]
            sound = source.streams.audio[:1]
            with av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as output:
                picture = output.add_stream_from_template(video)
                apple_tag(picture)
                outputs = {video.index: picture, **{s.index: output.add_stream_from_template(s) for s in sound}}
                try:
                    for packet in source.demux(video, *sound):
                        if packet.is_corrupt:
                            break  # torn by a kill or a full disk: the file ends with the packet before
                        if packet.dts is None or packet.size == 0:
                            continue
                        is_picture = packet.stream_index == video.index
                        if is_picture and packet.pts is not None and packet.time_base is not None:
                            stop = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                            end = max(end, stop)
                        packet.stream = outputs[packet.stream_index]
                        output.mux(packet)
                        count += is_picture
                except av.error.FFmpegError:
                    pass  # a clip cut off mid-fragment: keep what came before
                if count == 0:
                    raise EmptyClip(f"{fragmented.name}: no frame in it")
        with open(target, "rb") as handle:
            os.fsync(handle.fileno())
    except (av.error.FFmpegError, OSError) as exc:
        _discard(target)
        if isinstance(exc, av.error.InvalidDataError) and _size(fragmented) <= HEADER_ONLY_BYTES:
            raise EmptyClip(f"{fragmented.name}: no frame in it") from None
        code = getattr(exc, "errno", None)
        raise RecordError(f"{fragmented.name}: {getattr(exc, 'strerror', None) or exc}", code) from None
    except RecordError:
        _discard(target)
        raise
    return end, count


HEADER_ONLY_BYTES = 4096  # a fragmented MP4's header alone is well under this


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1  # gone with its disk: not known to be empty


def _discard(path: Path) -> None:
    """Remove a half-made file; on a read-only or vanished disk there is nothing to remove it from."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def finish_file(
    fragmented: Path, video_dir: Path, camera: str, *, mode: str, partial: bool, segment: bool = False
) -> SavedClip:
    """Remux the clip (or segment) beside itself in TEMP_DIR, move it into VIDEO_DIR, drop the
    fragmented file."""
    name, wall = layout.read_temp_clip(fragmented)
    if wall is None:  # named by an older version: its modification time is the best guess
        try:
            wall = fragmented.stat().st_mtime
        except OSError as exc:
            raise RecordError(f"{fragmented.name}: {exc.strerror or exc}", exc.errno) from None
    staged = layout.staging_path(fragmented)
    duration, frames = remux(fragmented, staged)
    placed = layout.segment_path if segment else layout.clip_path
    try:
        target = placed(video_dir, camera, name, wall, partial)
        storage.make_folder(target.parent, video_dir)
        publish(staged, target)
    except OSError as exc:
        _discard(staged)
        raise RecordError(f"cannot move the clip to {video_dir / camera}: {exc.strerror or exc}", exc.errno) from None
    _discard(fragmented)
    return SavedClip(target, wall, duration, frames, target.stat().st_size, mode, partial, segment)


def recover(temp_dir: Path, video_dir: Path, camera: str, log: Any) -> list[SavedClip]:
    """Clips and segments left in TEMP_DIR by a crash or power cut: saved into VIDEO_DIR marked
    _partial, never deleted. A file with no frame in it (killed right after it was opened) holds
    nothing: removed."""
    saved = []
    for stale in layout.stale_staging(temp_dir, camera):
        _discard(stale)  # an interrupted remux: its source is still there
    leftovers = [(p, False) for p in layout.temp_clips(temp_dir, camera)]
    leftovers += [(p, True) for p in layout.temp_clips(temp_dir, camera, segments=True)]
    for leftover, segment in leftovers:
        try:
            clip = finish_file(leftover, video_dir, camera, mode="recovered", partial=True, segment=segment)
        except EmptyClip:
            _discard(leftover)
            log.info("clip_empty_removed", file=str(leftover))
            continue
        except RecordError as exc:
            log.error("clip_unrecoverable", file=str(leftover), error=str(exc))
            continue
        log.warning(
            "segment_recovered" if segment else "clip_recovered",
            path=str(clip.path),
            duration_s=round(clip.duration, 1),
        )
        saved.append(clip)
    return saved


# --- writing one clip -------------------------------------------------------------------------

# Sample rates FFmpeg's AAC encoder takes; a camera's other rates are resampled to 48 kHz.
AAC_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000})


class SoundOut:
    """A clip's sound track: AAC copied as the camera sent it, anything else decoded and encoded
    as AAC. Times come from the picture's timeline (the packet's place beside the pictures), so
    picture and sound stay together in the clip whatever each codec's clock does."""

    def __init__(self, output: av.container.OutputContainer, track: AudioTrack, start: float) -> None:
        self.start = start
        self.next_pts = 0  # in ``time_base``: a packet or picture never goes before the last one
        self.decoder: av.AudioCodecContext | None = None
        if track.stream is not None:  # AAC: copied
            self.stream: av.AudioStream = output.add_stream_from_template(track.stream)
            self.time_base = track.time_base
            return
        decoder = av.CodecContext.create(track.codec, "r")
        assert isinstance(decoder, av.AudioCodecContext)
        decoder.sample_rate, decoder.layout = track.sample_rate, track.layout
        if track.extradata:
            decoder.extradata = track.extradata
        self.decoder = decoder
        stream = output.add_stream("aac", rate=track.sample_rate if track.sample_rate in AAC_RATES else 48000)
        assert isinstance(stream, av.AudioStream)
        stream.layout = "mono" if track.channels == 1 else "stereo"
        self.stream = stream
        self.time_base = Fraction(1, track.sample_rate)

    def packets(self, chunk: Chunk) -> list[av.Packet[Any]]:
        """What one of the camera's sound packets becomes in the clip; nothing before its start."""
        pts = round((chunk.time - self.start) / self.time_base)
        if pts < 0:
            return []
        packet = chunk.packet
        if self.decoder is None:
            packet.stream, packet.time_base = self.stream, self.time_base
            packet.pts = packet.dts = pts = max(pts, self.next_pts)
            self.next_pts = pts + max(1, packet.duration or 1)
            return [packet]
        try:
            frames = self.decoder.decode(packet)
        except av.error.FFmpegError:
            return []  # a damaged packet: a moment of silence
        encoded: list[av.Packet[Any]] = []
        for frame in frames:
            frame.pts, frame.time_base = max(pts, self.next_pts), self.time_base
            self.next_pts = pts = frame.pts + frame.samples
            encoded += self.stream.encode(frame)
        return encoded

    def flush(self) -> list[av.Packet[Any]]:
        return [] if self.decoder is None else list(self.stream.encode(None))


# Sound that stops must not hold the pictures back: FFmpeg's muxer waits up to 10 s by default for
# the other track before it writes, and a kill then loses those seconds.
MAX_INTERLEAVE_US = "500000"


class ClipWriter:
    """One fragmented MP4 in TEMP_DIR: stream copy of packets, or frames encoded as H.264; and the
    camera's sound beside them."""

    def __init__(
        self,
        path: Path,
        mode: str,
        template: StreamTemplate | None,
        info: StreamInfo,
        start: float,
        *,
        root: Path,
        audio: AudioTrack | None = None,
    ) -> None:
        self.path = path
        self.mode = mode
        self.start = start
        self.frames = 0
        self.last_dts = -math.inf
        self.last_pts = -1
        self.picture: av.VideoFrame | None = None  # drawn into again for each frame
        fps = info.fps if info.fps and 1 <= info.fps <= 120 else 25.0
        self.frame_step = 1.0 / fps
        try:
            # folders are made below ``root`` only: if it is gone, its disk is, and nothing is made
            storage.make_folder(path.parent, root=root)
            path.touch(exist_ok=False)  # FFmpeg opens the file only at the first write: fail here
            options = {"movflags": LIVE_MOVFLAGS, "flush_packets": "1", "max_interleave_delta": MAX_INTERLEAVE_US}
            self.output = av.open(str(path), "w", format="mp4", options=options)
            if mode == PASSTHROUGH:
                assert template is not None
                self.stream = self.output.add_stream_from_template(template.stream)
                # parameter sets given to the template (the demo's; a camera's new ones mid-stream)
                # are in its codec context: the copy takes the stream's parameters only
                given = template.stream.codec_context.extradata
                if given:
                    self.stream.codec_context.extradata = given
                apple_tag(self.stream)
                self.time_base = template.time_base
            else:
                options = dict(ENCODER_OPTIONS, g=str(max(1, round(fps * GOP_SECONDS))))
                self.stream = self.output.add_stream("libx264", rate=round(fps), options=options)
                self.stream.width, self.stream.height, self.stream.pix_fmt = info.width, info.height, "yuv420p"
                self.stream.codec_context.time_base = ENCODER_TIME_BASE
                self.time_base = ENCODER_TIME_BASE
            self.sound = None if audio is None else SoundOut(self.output, audio, start)
        except (av.error.FFmpegError, OSError) as exc:
            _discard(path)
            reason = getattr(exc, "strerror", None) or exc
            raise RecordError(f"cannot write {path.parent}: {reason}", getattr(exc, "errno", None)) from None

    def write_packet(self, chunk: Chunk) -> None:
        packet = chunk.packet
        pts = round((chunk.time - self.start) / self.time_base)
        step = max(1, round(self.frame_step / self.time_base))
        if packet.pts is not None and packet.dts is not None:
            dts = pts - (packet.pts - packet.dts)  # the camera's picture reordering (B-frames), kept
        elif self.last_dts > -math.inf:
            dts = int(self.last_dts) + step  # FFmpeg has not worked out this packet's decode time yet
        else:
            dts = pts
        dts = max(dts, int(self.last_dts) + 1) if self.last_dts > -math.inf else dts
        packet.stream = self.stream
        packet.time_base = self.time_base
        packet.pts, packet.dts = max(pts, dts), dts
        packet.duration = step
        self.last_dts = dts
        self._mux([packet])
        self.frames += 1

    def write_frame(self, video: av.VideoFrame, t: float, boxes: tuple[Box, ...], label: str) -> None:
        pts = round((t - self.start) / ENCODER_TIME_BASE)
        if pts <= self.last_pts:
            return  # a frame at or before the last: never twice
        self.last_pts = pts
        picture = self.picture = overlay.annotate_video(video, boxes, label, self.picture)
        picture.pts, picture.time_base = pts, ENCODER_TIME_BASE
        try:
            packets = self.stream.encode(picture)
        except av.error.FFmpegError as exc:
            raise RecordError(f"encoding failed: {exc}") from None
        self._mux(packets)
        self.frames += 1

    def write_audio(self, chunk: Chunk) -> None:
        if self.sound is not None:
            self._mux(self.sound.packets(chunk))

    def _mux(self, packets: Iterable[av.Packet[Any]]) -> None:
        try:
            for packet in packets:
                self.output.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise RecordError(f"writing {self.path.name} failed: {reason}", getattr(exc, "errno", None)) from None

    def close(self) -> None:
        """Flush and close; the file stays readable up to its last fragment even if this fails."""
        try:
            if self.mode == ANNOTATED:
                self._mux(self.stream.encode(None))
            if self.sound is not None:
                self._mux(self.sound.flush())
        finally:
            try:
                self.output.close()
            except (av.error.FFmpegError, OSError) as exc:
                raise RecordError(f"closing {self.path.name} failed: {getattr(exc, 'strerror', None) or exc}") from None
