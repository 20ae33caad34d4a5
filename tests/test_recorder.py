"""The recorder fed real H.264 packets (as the reader hands them over), checked with ffprobe."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import av
import pytest
import structlog
from conftest import decodes_cleanly, ffprobe, wait_until

from vcam import layout
from vcam.clipfiles import LIVE_MOVFLAGS, recover
from vcam.config import ANNOTATED, RecordSettings
from vcam.frames import Chunk, Frame, StreamInfo, StreamTemplate
from vcam.recorder import QUEUE_PACKETS, Closed, Opened, Recorder


def chunks_of(path: Path) -> Iterator[tuple[Opened, list[Chunk]]]:
    """The file as one connection's worth of chunks: packets with the pictures they decode to."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        info = StreamInfo(ctx.name, ctx.width, ctx.height, float(stream.average_rate or 10))
        opened = Opened(1, info, StreamTemplate.of(stream))
        chunks, index = [], 0
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None or packet.time_base is None:
                continue
            t = float(packet.pts * packet.time_base)
            frames = []
            for video in packet.decode():
                frames.append(Frame(float(video.time or t), 1.7e9 + t, video.width, video.height, video, index=index))
                index += 1
            chunks.append(Chunk(packet, t, packet.is_keyframe, tuple(frames), 1.7e9 + t))
        yield opened, chunks


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    (tmp_path / "video").mkdir()
    (tmp_path / "tmp").mkdir()
    rec = Recorder(
        "cam",
        RecordSettings(ANNOTATED, clip_seconds=30, pre_seconds=1),
        tmp_path / "video",
        tmp_path / "tmp",
        structlog.get_logger(),
    )
    rec.start()
    yield rec
    rec.stop()
    rec.join(time.monotonic() + 10)


def feed_slowly(recorder: Recorder, item: Chunk | Opened | Closed) -> None:
    """One item at a time, each handled before the next: which pictures travel is up to the test."""
    recorder.feed(item)
    assert wait_until(recorder.queue.empty, 5, 0.001)
    time.sleep(0.002)


def test_pictures_that_stop_coming_mid_gop_are_decoded_again_not_lost(
    recorder: Recorder, make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    """The reader stops passing pictures when the recorder falls behind, often in the middle of a
    group of pictures; the recorder then decodes from that group's keyframe itself."""
    source = make_clip(seconds=6, fps=10, gop_s=2.0)  # keyframes at 0, 2, 4 s
    for opened, chunks in chunks_of(source):
        recorder.motion(1, 0.0, 100.0)
        feed_slowly(recorder, opened)
        for number, chunk in enumerate(chunks):
            stripped = Chunk(chunk.packet, chunk.time, chunk.keyframe, (), chunk.wall)
            feed_slowly(recorder, stripped if 25 <= number < 32 else chunk)  # mid-group: packets only
        feed_slowly(recorder, Closed(1))
    assert wait_until(lambda: recorder.saved == 1, 10)
    (clip,) = (tmp_path / "video").rglob("*.mp4")
    facts = ffprobe(clip)
    assert int(facts["nb_read_frames"]) == 60, facts  # every source picture, none twice
    assert decodes_cleanly(clip)


class Log:
    """Collects (level, event, fields) like a structlog logger."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, object]]] = []

    def __getattr__(self, level: str) -> Callable[..., None]:
        return lambda event, **fields: self.records.append((level, event, fields))


def test_leftovers_with_no_frame_are_removed_quietly_and_the_rest_recovered_by_their_start(
    tmp_path: Path, make_clip: Callable[..., Path]
) -> None:
    """A kill at a clip boundary leaves a file with a header only (or nothing): removed once, at
    info. A real leftover is named and dated by its first frame, not the file's modification time."""
    temp, video = tmp_path / "tmp", tmp_path / "video"
    (temp / "cam").mkdir(parents=True)
    video.mkdir()
    empty = layout.temp_clip_path(temp, "cam", 1.7e9, 11)
    empty.write_bytes(b"")
    header_only = layout.temp_clip_path(temp, "cam", 1.7e9 + 30, 11)
    with (
        av.open(str(make_clip(seconds=2))) as source,
        av.open(str(header_only), "w", format="mp4", options={"movflags": LIVE_MOVFLAGS}) as output,
    ):
        output.add_stream_from_template(source.streams.video[0])
        output.start_encoding()
    started = time.mktime((2026, 3, 29, 1, 59, 58, 0, 0, -1))  # the day's date comes from this
    leftover = layout.temp_clip_path(temp, "cam", started, 12)
    leftover.write_bytes(make_clip(seconds=2).read_bytes())
    os.utime(leftover, (started + 86400 * 3, started + 86400 * 3))  # touched days later
    log = Log()
    (clip,) = recover(temp, video, "cam", log)
    assert clip.start == started and clip.path == video / "cam" / "2026-03-29" / "cam_20260329_015958_partial.mp4"
    assert decodes_cleanly(clip.path)
    assert layout.temp_clips(temp, "cam") == []
    levels = sorted((level, event) for level, event, _ in log.records)
    assert levels == [("info", "clip_empty_removed"), ("info", "clip_empty_removed"), ("warning", "clip_recovered")]
    assert recover(temp, video, "cam", log) == []  # the next start has nothing to say


def test_a_file_torn_mid_packet_is_saved_without_the_torn_packet(
    tmp_path: Path, make_clip: Callable[..., Path]
) -> None:
    """A kill or a full disk can stop a fragment mid-packet: what is saved ends with the packet
    before, and decodes without an error (a torn last packet used to be kept)."""
    fragmented = tmp_path / "whole.mp4"
    with (
        av.open(str(make_clip(seconds=6))) as source,
        av.open(str(fragmented), "w", format="mp4", options={"movflags": LIVE_MOVFLAGS}) as output,
    ):
        stream = output.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                output.mux(packet)
    whole = fragmented.read_bytes()
    temp, video = tmp_path / "tmp", tmp_path / "video"
    (temp / "cam").mkdir(parents=True)
    video.mkdir()
    for n, share in enumerate((0.35, 0.5, 0.71, 0.93)):
        torn = layout.temp_clip_path(temp, "cam", 1.7e9 + 60 * n, 12)
        torn.write_bytes(whole[: int(len(whole) * share)])
        (clip,) = recover(temp, video, "cam", Log())
        assert 0 < clip.frames < 60 and decodes_cleanly(clip.path), share


def test_a_recorder_far_behind_drops_and_counts_and_says_so_once(
    tmp_path: Path, make_clip: Callable[..., Path]
) -> None:
    """The reader never waits for the recorder: past QUEUE_PACKETS, packets are dropped and counted."""
    log = Log()
    rec = Recorder("cam", RecordSettings(ANNOTATED, 30, 1), tmp_path / "video", tmp_path / "tmp", log)  # not started
    ((opened, chunks),) = chunks_of(make_clip(seconds=60, fps=15))
    rec.feed(opened)
    for chunk in chunks[: QUEUE_PACKETS + 30]:
        rec.feed(chunk)  # returns at once every time
    assert rec.queue.qsize() == QUEUE_PACKETS and rec.dropped == len(chunks[: QUEUE_PACKETS + 30]) + 1 - QUEUE_PACKETS
    assert [(level, event) for level, event, _ in log.records] == [("error", "recorder_behind")]


def test_the_recorder_thread_outlives_anything_a_packet_does(tmp_path: Path, make_clip: Callable[..., Path]) -> None:
    """A packet the writer chokes on (here: no packet at all) is logged as recorder_error, the
    clip it was in is dropped, and the next event is recorded as ever."""
    (tmp_path / "video").mkdir()
    (tmp_path / "tmp").mkdir()
    log = Log()
    rec = Recorder("cam", RecordSettings(ANNOTATED, 30, 1), tmp_path / "video", tmp_path / "tmp", log)
    rec.start()
    try:
        ((opened, chunks),) = chunks_of(make_clip(seconds=6, fps=10, gop_s=1.0))
        rec.motion(1, 0.0, 100.0)
        feed_slowly(rec, opened)
        for chunk in chunks[:10]:
            feed_slowly(rec, chunk)
        broken = Chunk(cast(Any, None), chunks[10].time, False, (), chunks[10].wall)
        feed_slowly(rec, broken)
        assert wait_until(lambda: [e for _, e, _ in log.records if e == "recorder_error"], 5)
        assert rec.alive() and not rec.recording
        rec.motion(1, chunks[20].time, 100.0)  # motion goes on: a new clip from the next keyframe
        for chunk in chunks[11:]:
            feed_slowly(rec, chunk)
        feed_slowly(rec, Closed(1))
        assert wait_until(lambda: rec.saved == 1, 10)
    finally:
        rec.stop()
        rec.join(time.monotonic() + 10)
    (clip,) = (tmp_path / "video").rglob("*.mp4")
    assert decodes_cleanly(clip) and int(ffprobe(clip)["nb_read_frames"]) >= 30
