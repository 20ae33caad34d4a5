"""Clips: written as fragmented MP4 into TEMP_DIR while recording (a killed writer leaves a playable
file), then remuxed to an ordinary MP4 (index at the front: plays at once in any browser or phone)
and moved into VIDEO_DIR whole. Leftovers from a crash are recovered at start-up.

The Recorder is the one thread per camera that is always joined at shutdown, so clips get finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import math
import os
import queue
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from vcam import layout, overlay, storage, threads
from vcam.clips import Action, ClipPlanner, PreRoll, opening
from vcam.config import ANNOTATED, PASSTHROUGH, RecordSettings
from vcam.frames import AudioTrack, Chunk, StreamInfo, StreamTemplate
from vcam.motion import Box

LIVE_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
# x264 "ultrafast" at CRF 27 with one thread: measured the cheapest CPU per frame that still looks
# fine at 720p (see README); a 2 s GOP so a killed clip loses at most 2 s.
ENCODER_OPTIONS = {"preset": "ultrafast", "crf": "27", "tune": "zerolatency", "threads": "1"}
ENCODER_TIME_BASE = Fraction(1, 1000)
GOP_SECONDS = 2
OUTLINE_HOLD_S = 1.0  # boxes older than this are not drawn
FRAME_BACKLOG = 10  # queued packets beyond which decoded pictures are no longer passed along
QUEUE_PACKETS = 600  # how far (20 s at 30 fps) the recorder may fall behind before packets are dropped
DRAIN_ON_STOP_S = 2.0


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


def finish_file(fragmented: Path, video_dir: Path, camera: str, *, mode: str, partial: bool) -> SavedClip:
    """Remux the clip beside itself in TEMP_DIR, move it into VIDEO_DIR, drop the fragmented file."""
    name, wall = layout.read_temp_clip(fragmented)
    if wall is None:  # named by an older version: its modification time is the best guess
        try:
            wall = fragmented.stat().st_mtime
        except OSError as exc:
            raise RecordError(f"{fragmented.name}: {exc.strerror or exc}", exc.errno) from None
    staged = layout.staging_path(fragmented)
    duration, frames = remux(fragmented, staged)
    folder = layout.camera_dir(video_dir, camera) / layout.day(wall)
    try:
        storage.make_folder(folder, video_dir)
        target = layout.clip_path(video_dir, camera, name, wall, partial)
        publish(staged, target)
    except OSError as exc:
        _discard(staged)
        raise RecordError(f"cannot move the clip to {folder}: {exc.strerror or exc}", exc.errno) from None
    _discard(fragmented)
    return SavedClip(target, wall, duration, frames, target.stat().st_size, mode, partial)


def recover(temp_dir: Path, video_dir: Path, camera: str, log: Any) -> list[SavedClip]:
    """Clips left in TEMP_DIR by a crash or power cut: saved into VIDEO_DIR marked _partial, never
    deleted. A file with no frame in it (killed right after it was opened) holds nothing: removed."""
    saved = []
    for stale in layout.stale_staging(temp_dir, camera):
        _discard(stale)  # an interrupted remux: its source is still there
    for leftover in layout.temp_clips(temp_dir, camera):
        try:
            clip = finish_file(leftover, video_dir, camera, mode="recovered", partial=True)
        except EmptyClip:
            _discard(leftover)
            log.info("clip_empty_removed", file=str(leftover))
            continue
        except RecordError as exc:
            log.error("clip_unrecoverable", file=str(leftover), error=str(exc))
            continue
        log.warning("clip_recovered", path=str(clip.path), duration_s=round(clip.duration, 1))
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


# --- the recorder thread ----------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    connection: int
    info: StreamInfo
    template: StreamTemplate | None
    audio: AudioTrack | None = None


@dataclass(frozen=True)
class Closed:
    connection: int


class _Stop:
    pass


Item = Chunk | Opened | Closed | _Stop


class Recorder:
    """Keeps the pre-roll, opens, cuts and finishes clips as the planner says, and saves them."""

    def __init__(
        self,
        camera: str,
        settings: RecordSettings,
        video_dir: Path,
        temp_dir: Path,
        log: Any,
        *,
        on_saved: Callable[[SavedClip], None] | None = None,
        make_room: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.camera = camera
        self.settings = settings
        self.video_dir = video_dir
        self.temp_dir = temp_dir
        # TEMP_DIR inside VIDEO_DIR (the default) is made again on a disk plugged back in
        self._temp_root = video_dir if temp_dir.is_relative_to(video_dir) else temp_dir
        self.log = log
        self.on_saved = on_saved
        self.make_room = make_room
        self.clock = clock
        self.queue: queue.Queue[Item] = queue.Queue(maxsize=QUEUE_PACKETS)
        self.preroll: PreRoll[Chunk] = PreRoll(settings.pre_seconds)
        self.planner = ClipPlanner(settings.clip_seconds, settings.pre_seconds, settings.mode == PASSTHROUGH)
        self._lock = threading.Lock()
        self._motion: list[tuple[int | None, float, float]] = []
        self._boxes: tuple[tuple[Box, ...], float] = ((), -math.inf)
        self._placed: tuple[float, float] | None = None  # (our time, epoch arrival) of the newest packet
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.beat = clock()
        self.dropped = 0
        self.saved = 0
        self.last_clip: str | None = None
        self.wants_frames = False  # read by the reader thread: pass decoded pictures along
        self._dropping = False
        self._connection = -1
        self._info: StreamInfo | None = None
        self._template: StreamTemplate | None = None
        self._audio: AudioTrack | None = None
        self._mode = settings.mode
        self._writer: ClipWriter | None = None
        self._writer_wall = 0.0
        self._previous: ClipWriter | None = None  # cut, waiting for held-back pictures
        self._to_publish: queue.Queue[tuple[Path, str] | None] = queue.Queue()
        self._publishing: threading.Thread | None = None
        self._decoder: av.VideoCodecContext | None = None
        # (packet pts, our time) of packets fed to the decoder, to time the pictures it returns
        self._pending: deque[tuple[int | None, float]] = deque()
        self._last_error: str | None = None

    # --- called from other threads ---

    def start(self) -> None:
        self._publishing = threads.start(f"{self.camera}-publisher", self._publisher)
        self._thread = threads.start(f"{self.camera}-recorder", self._run)

    def feed(self, item: Chunk | Opened | Closed) -> None:
        """Never blocks the reader: if the recorder is far behind, packets are dropped and counted.
        Decoded pictures (megabytes each) come along only while an annotated clip is being written
        and the recorder keeps up; otherwise it decodes the packets itself."""
        if isinstance(item, Chunk) and item.frames and not (self.wants_frames and self.queue.qsize() < FRAME_BACKLOG):
            item = dataclasses.replace(item, frames=())
        try:
            self.queue.put_nowait(item)
            self._dropping = False
        except queue.Full:
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                self.log.error("recorder_behind", dropped=self.dropped)

    def motion(self, connection: int, start: float, until: float) -> None:
        with self._lock:
            self._motion.append((connection, start, until))

    def outline(self, boxes: tuple[Box, ...], t: float) -> None:
        self._boxes = (boxes, t)

    # A sub-stream (DETECT_URL) has a timeline of its own: its motion comes in epoch seconds, and is
    # placed on this stream's timeline by the arrival time of the newest packet (both streams come
    # from the same camera at the same moment; their arrival differs by milliseconds).

    def motion_at(self, start_wall: float, until_wall: float) -> None:
        with self._lock:
            self._motion.append((None, start_wall, until_wall))

    def outline_at(self, boxes: tuple[Box, ...], wall: float, width: int, height: int) -> None:
        """Boxes of the sub-stream's picture (``width`` x ``height``), drawn on this stream's."""
        info, placed = self._info, self._placed
        if info is None or placed is None or width <= 0 or height <= 0:
            return
        sx, sy = info.width / width, info.height / height
        scaled = tuple(Box(round(b.x * sx), round(b.y * sy), round(b.w * sx), round(b.h * sy)) for b in boxes)
        self._boxes = (scaled, placed[0] + wall - placed[1])

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(queue.Full):  # a full queue: the loop sees the event within its wait
            self.queue.put_nowait(_Stop())

    def join(self, deadline: float) -> bool:
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            return not self._thread.is_alive()
        return True

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def recording(self) -> bool:
        return self._writer is not None

    # --- the thread ---

    def _run(self) -> None:
        for clip in recover(self.temp_dir, self.video_dir, self.camera, self.log):
            self._saved(clip)
        while not self._stopping.is_set():
            self.beat = self.clock()
            try:
                item = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            self._guarded(item)
        self._drain()
        self._finish(None)
        self._to_publish.put(None)
        if self._publishing is not None:
            self._publishing.join()  # the recorder is always joined, so clips are always saved
        self.log.info("recorder_stopped", clips_saved=self.saved, packets_dropped=self.dropped)

    def _guarded(self, item: Item) -> None:
        """This thread must outlive anything one packet does: log the unexpected, drop the clip, go on."""
        try:
            self._handle(item)
        except Exception as exc:
            self.log.exception("recorder_error", error=f"{type(exc).__name__}: {exc}")
            self._writer, self._decoder, self._previous = None, None, None
            self.wants_frames = False
            self.planner.reset()
            self.preroll.clear()

    def _drain(self) -> None:
        """At stop, write what had already arrived, for a short while at most."""
        deadline = self.clock() + DRAIN_ON_STOP_S
        while self.clock() < deadline:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if not isinstance(item, _Stop):
                self._guarded(item)

    def _handle(self, item: Item) -> None:
        if isinstance(item, Chunk):
            self._apply_motion()
            self._chunk(item)
        elif isinstance(item, Opened):
            self._finish(None)
            self.planner.reset()
            self.preroll.clear()
            self._connection, self._info, self._template = item.connection, item.info, item.template
            self._audio, self._placed = item.audio, None
            self._mode = self.settings.mode
            if self._mode == PASSTHROUGH and item.template is None:
                self._mode = ANNOTATED
                self.log.warning("passthrough_unavailable", codec=item.info.codec, recording="annotated")
            self.planner.cut_on_keyframe = self._mode == PASSTHROUGH
        elif isinstance(item, Closed) and item.connection == self._connection:
            self._finish(None)
            self.planner.reset()
            self.preroll.clear()

    def _apply_motion(self) -> None:
        with self._lock:
            updates, self._motion = self._motion, []
        for connection, start, until in updates:
            if connection == self._connection:
                self.planner.motion(start, until)
            elif connection is None and self._placed is not None:  # epoch seconds: a sub-stream's
                t, wall = self._placed
                self.planner.motion(t + start - wall, t + until - wall)

    def _chunk(self, chunk: Chunk) -> None:
        self._placed = (chunk.time, chunk.wall)
        if chunk.audio:  # the pictures decide when clips start and end; the sound goes along
            self._write(chunk)
            self.preroll.add(chunk)
            return
        action = self.planner.decide(chunk.time, chunk.keyframe)
        if action is Action.START:
            self._open(chunk)
        elif action is Action.WRITE:
            self._write(chunk)
        elif action is Action.CUT:
            self._finish(chunk.time, cut=True)
            self._open(chunk, with_preroll=False)
        elif action is Action.FINISH:
            self._finish(chunk.time)
        self.preroll.add(dataclasses.replace(chunk, frames=()) if chunk.frames else chunk)  # packets only

    def _open(self, chunk: Chunk, *, with_preroll: bool = True) -> None:
        assert self._info is not None
        if with_preroll:
            opened = opening(self.preroll, self.planner, chunk, copy=self._mode == PASSTHROUGH)
            if opened is None:
                return  # stream copy must begin on a keyframe: wait for one (the event stays pending)
            items, start = opened
        else:  # a cut: the next clip begins with this very packet
            items, start = [chunk], chunk.time
        first = items[0]
        wall = first.wall + (start - first.time)
        try:
            writer = self._new_writer(layout.temp_clip_path(self.temp_dir, self.camera, wall, os.getpid()), start)
        except RecordError as exc:
            self._failed(exc)
            self.planner.started(start)
            self.planner.finished(chunk.time)  # this event goes unrecorded: said once, not retried per packet
            return
        self._writer, self._writer_wall = writer, wall
        self.wants_frames = self._mode == ANNOTATED
        self.planner.started(start)
        self.log.info("clip_started", file=writer.path.name, pre_roll_s=round(chunk.time - start, 2), mode=self._mode)
        for item in items:
            self._write(item)

    def _new_writer(self, path: Path, start: float) -> ClipWriter:
        """A full disk first gets room made by the retention policy, then one more try."""
        assert self._info is not None
        try:
            return self._writer_at(path, start)
        except RecordError as exc:
            if exc.errno != errno.ENOSPC or self.make_room is None:
                raise
            freed = self.make_room()
            self.log.warning("disk_full", freed_mb=round(freed / 1e6, 1))
            return self._writer_at(path, start)

    def _writer_at(self, path: Path, start: float) -> ClipWriter:
        assert self._info is not None
        return ClipWriter(path, self._mode, self._template, self._info, start, root=self._temp_root, audio=self._audio)

    def _new_decoder(self) -> av.VideoCodecContext:
        """Annotated clips decode the packets again here, rather than keep decoded pictures queued:
        a second decode costs less than the memory seconds of 720p frames would take on a Pi."""
        assert self._info is not None
        decoder = av.CodecContext.create(self._info.codec, "r")
        assert isinstance(decoder, av.VideoCodecContext)
        # one thread: frame threading would hold pictures back, and those would miss a cut
        decoder.thread_count = 1
        if self._template is not None and self._template.stream.codec_context.extradata:
            decoder.extradata = self._template.stream.codec_context.extradata
        return decoder

    def _write(self, chunk: Chunk) -> None:
        writer = self._writer
        if chunk.audio and writer is not None and chunk.time < writer.start and self._previous is not None:
            writer = self._previous  # sound from before a cut, while the last clip takes held-back pictures
        if writer is None:
            return
        try:
            if chunk.audio:
                writer.write_audio(chunk)
            elif self._mode == PASSTHROUGH:
                writer.write_packet(chunk)
            elif chunk.frames:
                # the reader's pictures: no second decode (the recorder's own decoder is done with)
                self._decoder = None
                self._encode(writer, [(f.video, f.time) for f in chunk.frames if f.video is not None])
            else:
                self._encode(writer, self._decode(chunk))
        except RecordError as exc:
            self._failed(exc)
            self._finish(chunk.time)  # keep what was written; if motion goes on, the next packet starts a clip
            if exc.errno == errno.ENOSPC and self.make_room is not None:
                self.log.warning("disk_full", freed_mb=round(self.make_room() / 1e6, 1))

    def _decode(self, chunk: Chunk | None) -> list[tuple[av.VideoFrame, float]]:
        """Pictures decoded here (the pre-roll, and packets that came without pictures), with their
        times on our timeline; ``None`` flushes the decoder. Decoding starts on a keyframe."""
        found: list[tuple[av.VideoFrame, float]] = []
        if self._decoder is None:
            if chunk is None:
                return []
            # Mid-group (the reader stopped passing pictures): decode again from the group's
            # keyframe, kept in the pre-roll; the writer skips the pictures it already has.
            earlier = [] if chunk.keyframe else [c for c in self.preroll.last_group() if not c.audio]
            if not chunk.keyframe and not earlier:
                return []  # no keyframe seen yet: the next one starts the clip
            self._decoder = self._new_decoder()
            self._pending.clear()
            for item in earlier:
                found += self._decode(item)
        if chunk is not None:
            self._pending.append((chunk.packet.pts, chunk.time))
        try:
            frames = self._decoder.decode(chunk.packet if chunk is not None else None)
        except av.error.FFmpegError:
            return found  # a damaged packet: the next keyframe repairs the picture
        for video in frames:
            t = self._time_of(video.pts)
            if isinstance(video, av.VideoFrame) and t is not None:
                found.append((video, t))
        while len(self._pending) > 64:  # packets that never came out as pictures
            self._pending.popleft()
        return found

    def _time_of(self, pts: int | None) -> float | None:
        """Our time for a decoded picture: that of the packet with its timestamp."""
        for index, (packet_pts, t) in enumerate(self._pending):
            if packet_pts == pts:
                del self._pending[index]
                return t
        return None

    def _encode(self, writer: ClipWriter, frames: list[tuple[av.VideoFrame, float]]) -> None:
        boxes, seen = self._boxes
        for video, t in frames:
            target = writer
            if t < writer.start:
                if self._previous is None:
                    continue  # pre-roll from before the clip's start
                target = self._previous  # a picture the decoder held back past a cut (B-frames)
            elif self._previous is not None:
                self._publish(self._previous)  # pictures come out in order: the last clip is complete
                self._previous = None
            fresh = boxes if abs(t - seen) <= OUTLINE_HOLD_S else ()
            wall = self._writer_wall + t - writer.start
            target.write_frame(video, t, fresh, overlay.label(self.camera, wall))

    def _finish(self, t: float | None, *, cut: bool = False) -> None:
        """Close the open clip (before the packet at ``t``, or now) and move it into VIDEO_DIR.

        At a cut the decoder carries on into the next clip (which need not start on a keyframe);
        an annotated clip stays open until the decoder has returned its last pictures."""
        writer = self._writer
        if writer is None:
            return
        self._writer = None
        if cut and t is not None:
            self.planner.cut(t)
            if self._mode == ANNOTATED:
                self._previous = writer
                return
        else:
            if self.planner.recording:
                self.planner.finished(t if t is not None else math.inf)
            self._writer = writer  # so the decoder's last pictures can still reach it
            try:
                self._encode(writer, self._decode(None))
            except RecordError as exc:
                self._failed(exc)
            self._writer, self._decoder = None, None
            self.wants_frames = False
            if self._previous is not None:
                self._publish(self._previous)
                self._previous = None
        self._publish(writer)

    def _publish(self, writer: ClipWriter) -> None:
        """Close the clip here (quick); the remux and move happen in the publisher thread, so the
        recorder never stops taking packets while a finished clip is copied."""
        try:
            writer.close()
        except RecordError as exc:
            self._failed(exc)
        self._to_publish.put((writer.path, writer.mode))

    def _publisher(self) -> None:
        while True:
            item = self._to_publish.get()
            if item is None:
                return
            path, mode = item
            try:
                clip = finish_file(path, self.video_dir, self.camera, mode=mode, partial=False)
            except RecordError as exc:
                self._failed(exc)  # the fragmented file stays in TEMP_DIR and is recovered at the next start
                continue
            except Exception as exc:  # never lose the thread that saves clips
                self.log.exception("publish_error", file=path.name, error=f"{type(exc).__name__}: {exc}")
                continue
            self._saved(clip)

    def _saved(self, clip: SavedClip) -> None:
        self.saved += 1
        self.last_clip = clip.path.name
        if self._last_error is not None:
            self._last_error = None
            self.log.info("recording_recovered")
        self.log.info("clip_saved", path=str(clip.path), duration_s=round(clip.duration, 2), partial=clip.partial)
        if self.on_saved is not None:
            self.on_saved(clip)

    def _failed(self, exc: RecordError) -> None:
        """Said once per cause: a disk that went away fails every step of a clip in its own words."""
        cause = storage.disk_problem(self.video_dir, self._temp_root) or str(exc)
        if cause != self._last_error:
            self.log.error("clip_failed", error=cause, detail=str(exc))
        self._last_error = cause
