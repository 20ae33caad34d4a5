"""The recorder thread: keeps the pre-roll, opens, cuts and finishes clips as the planner says
(clips.py), writes them (clipfiles.py) and saves them; with RECORD=continuous or both it also
copies every packet into back-to-back segments (clips.SegmentPlanner), saved the same way.

The Recorder is the one thread per camera that is always joined at shutdown, so clips get finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import math
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import av.error

from vcam import layout, overlay, storage, threads
from vcam.clipfiles import ClipWriter, RecordError, SavedClip, finish_file, recover
from vcam.clips import Action, ClipPlanner, PreRoll, SegmentPlanner, opening
from vcam.config import ANNOTATED, PASSTHROUGH, RecordSettings
from vcam.frames import AudioTrack, Chunk, StreamInfo, StreamTemplate
from vcam.motion import Box

__all__ = ["Closed", "Opened", "Recorder", "SavedClip"]

OUTLINE_HOLD_S = 1.0  # boxes older than this are not drawn
FRAME_BACKLOG = 10  # queued packets beyond which decoded pictures are no longer passed along
QUEUE_PACKETS = 600  # how far (20 s at 30 fps) the recorder may fall behind before packets are dropped
DRAIN_ON_STOP_S = 2.0
ANALYSIS_LAG_S = 1.0  # from a picture's arrival to its motion reaching the recorder, at most (generous)


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
        detection_lag: float = 0.0,
        allowed: Callable[[], bool] = lambda: True,
    ) -> None:
        """``detection_lag``: how long after its first picture motion may be known (a keyframe
        interval while only keyframes are decoded); the pre-roll keeps that much more, so a clip
        still starts PRE_SECONDS before the event's first moving picture. ``allowed``: the record
        switch (off: continuous recording pauses; clips are not asked for)."""
        self.camera = camera
        self.settings = settings
        self.video_dir = video_dir
        self.temp_dir = temp_dir
        # TEMP_DIR inside VIDEO_DIR (the default) is made again on a disk plugged back in
        self._temp_root = video_dir if temp_dir.is_relative_to(video_dir) else temp_dir
        self.log = log
        self.on_saved = on_saved  # clips and segments alike (SavedClip.segment says which)
        self.make_room = make_room
        self.allowed = allowed
        self.clock = clock
        self.queue: queue.Queue[Item] = queue.Queue(maxsize=QUEUE_PACKETS)
        self.preroll: PreRoll[Chunk] = PreRoll(settings.pre_seconds + detection_lag + ANALYSIS_LAG_S)
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
        self.bytes_saved = 0  # of the clips saved
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
        self.segments = SegmentPlanner(settings.segment_seconds) if settings.continuous else None
        self._segment: ClipWriter | None = None
        self.segments_saved = 0
        self._to_publish: queue.Queue[tuple[Path, str, bool] | None] = queue.Queue()
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
        self._end_segment()
        self._to_publish.put(None)
        if self._publishing is not None:
            self._publishing.join()  # the recorder is always joined, so clips are always saved
        self.log.info(
            "recorder_stopped", clips_saved=self.saved, segments_saved=self.segments_saved, packets_dropped=self.dropped
        )

    def _guarded(self, item: Item) -> None:
        """This thread must outlive anything one packet does: log the unexpected, drop the clip, go on."""
        try:
            self._handle(item)
        except Exception as exc:
            self.log.exception("recorder_error", error=f"{type(exc).__name__}: {exc}")
            self._writer, self._decoder, self._previous, self._segment = None, None, None, None
            if self.segments is not None:
                self.segments.stopped()
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
            self._continue(item)
            self._chunk(item)
        elif isinstance(item, Opened):
            self._finish(None)
            self._end_segment()
            self.planner.reset()
            self.preroll.clear()
            self._connection, self._info, self._template = item.connection, item.info, item.template
            self._audio, self._placed = item.audio, None
            self._mode = self.settings.mode
            if self._mode == PASSTHROUGH and item.template is None:
                self._mode = ANNOTATED
                self.log.warning("passthrough_unavailable", codec=item.info.codec, recording="annotated")
            if self.segments is not None and item.template is None:
                self.log.warning(
                    "continuous_unavailable",
                    codec=item.info.codec,
                    reason="continuous recording copies the stream, and only H.264 and H.265 can be copied",
                )
            self.planner.cut_on_keyframe = self._mode == PASSTHROUGH
        elif isinstance(item, Closed) and item.connection == self._connection:
            self._finish(None)
            self._end_segment()
            self.planner.reset()
            self.preroll.clear()

    def _apply_motion(self) -> None:
        with self._lock:
            updates, self._motion = self._motion, []
        if not self.settings.events:
            return  # RECORD=continuous: motion marks segments (the event log), it makes no clips
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
            path = layout.temp_clip_path(self.temp_dir, self.camera, wall, os.getpid())
            writer = self._new_writer(path, start, self._mode)
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

    def _new_writer(self, path: Path, start: float, mode: str) -> ClipWriter:
        """A full disk first gets room made by the retention policy, then one more try."""
        assert self._info is not None
        try:
            return self._writer_at(path, start, mode)
        except RecordError as exc:
            if exc.errno != errno.ENOSPC or self.make_room is None:
                raise
            freed = self.make_room()
            self.log.warning("disk_full", freed_mb=round(freed / 1e6, 1))
            return self._writer_at(path, start, mode)

    def _writer_at(self, path: Path, start: float, mode: str) -> ClipWriter:
        assert self._info is not None
        return ClipWriter(path, mode, self._template, self._info, start, root=self._temp_root, audio=self._audio)

    # --- continuous recording ---

    def _continue(self, chunk: Chunk) -> None:
        """Every packet into the open segment; a keyframe past SEGMENT_SECONDS starts the next one."""
        planner = self.segments
        if planner is None or self._template is None:
            return
        if not self.allowed():
            self._end_segment()
            return
        if chunk.audio:
            self._segment_write(chunk)
            return
        action = planner.decide(chunk.time, chunk.keyframe)
        if action is Action.CUT:
            self._end_segment()
        if action in (Action.START, Action.CUT):
            planner.started(chunk.time)  # also when the file cannot be made: tried again at the next cut
            try:
                path = layout.temp_segment_path(self.temp_dir, self.camera, chunk.wall, os.getpid())
                self._segment = self._new_writer(path, chunk.time, PASSTHROUGH)
            except RecordError as exc:
                self._failed(exc)
        self._segment_write(chunk)

    def _segment_write(self, chunk: Chunk) -> None:
        writer = self._segment
        if writer is None:
            return
        own = chunk.copy()  # the same packet may go into a clip too
        try:
            if chunk.audio:
                writer.write_audio(own)
            else:
                writer.write_packet(own)
        except RecordError as exc:
            self._failed(exc)
            self._end_segment()  # keep what was written; the next keyframe starts a new segment
            self._room_after(exc)

    def _end_segment(self) -> None:
        writer, self._segment = self._segment, None
        if self.segments is not None:
            self.segments.stopped()
        if writer is not None:
            self._publish(writer, segment=True)

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
            self._room_after(exc)

    def _room_after(self, exc: RecordError) -> None:
        """A write that hit a full disk: the retention policy makes room for the next file."""
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

    def _publish(self, writer: ClipWriter, *, segment: bool = False) -> None:
        """Close the clip here (quick); the remux and move happen in the publisher thread, so the
        recorder never stops taking packets while a finished clip is copied."""
        try:
            writer.close()
        except RecordError as exc:
            self._failed(exc)
        self._to_publish.put((writer.path, writer.mode, segment))

    def _publisher(self) -> None:
        while True:
            item = self._to_publish.get()
            if item is None:
                return
            path, mode, segment = item
            try:
                clip = finish_file(path, self.video_dir, self.camera, mode=mode, partial=False, segment=segment)
            except RecordError as exc:
                self._failed(exc)  # the fragmented file stays in TEMP_DIR and is recovered at the next start
                continue
            except Exception as exc:  # never lose the thread that saves clips
                self.log.exception("publish_error", file=path.name, error=f"{type(exc).__name__}: {exc}")
                continue
            self._saved(clip)

    def _saved(self, clip: SavedClip) -> None:
        if clip.segment:
            self.segments_saved += 1
        else:
            self.saved += 1
            self.bytes_saved += clip.size
            self.last_clip = clip.path.name
        if self._last_error is not None:
            self._last_error = None
            self.log.info("recording_recovered")
        self.log.info(
            "segment_saved" if clip.segment else "clip_saved",
            path=str(clip.path),
            duration_s=round(clip.duration, 2),
            partial=clip.partial,
        )
        if self.on_saved is not None:
            self.on_saved(clip)

    def _failed(self, exc: RecordError) -> None:
        """Said once per cause: a disk that went away fails every step of a clip in its own words."""
        cause = storage.disk_problem(self.video_dir, self._temp_root) or str(exc)
        if cause != self._last_error:
            self.log.error("clip_failed", error=cause, detail=str(exc))
        self._last_error = cause
