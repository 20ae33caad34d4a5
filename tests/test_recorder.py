"""The recorder fed real H.264 packets (as the reader hands them over), checked with ffprobe."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import pytest
import structlog
from conftest import decodes_cleanly, ffprobe, wait_until

from vcam.frames import Chunk, Frame, StreamInfo, StreamTemplate
from vcam.recorder import ANNOTATED, Closed, Opened, Recorder, RecordSettings


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
