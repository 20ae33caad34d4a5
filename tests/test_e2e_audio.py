"""The camera's sound in clips, against gst-rtsp-server sending it as cameras do: AAC, G.711
A-law and µ-law, Opus. Picture and sound are checked together on a clip whose picture turns
white exactly while it beeps."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from conftest import FLASH_EVERY_S, Daemon, RtspServer, decodes_cleanly, play_in_chromium

pytestmark = pytest.mark.slow

SYNC_TOLERANCE_S = 0.08  # under a frame at 10 fps, and inside what a viewer notices (~45 ms lead, ~125 ms lag)


def streams(path: Path) -> dict[str, dict[str, Any]]:
    """ffprobe's view of each kind of track: codec, start and duration."""
    out = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-show_entries"),
            "stream=codec_type,codec_name,codec_tag_string,start_time,duration,sample_rate,channels",
            *("-of", "json", str(path)),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


def onsets(path: Path) -> tuple[list[float], list[float]]:
    """When the picture turns white, and when the beep starts, in the clip's own times."""
    flashes: list[float] = []
    beeps: list[float] = []
    with av.open(str(path)) as clip:
        bright = False
        for picture in clip.decode(clip.streams.video[0]):
            now = float(picture.to_ndarray(format="gray").mean()) > 200
            if now and not bright and picture.time is not None:
                flashes.append(picture.time)
            bright = now
    with av.open(str(path)) as clip:
        loud = False
        for sound in clip.decode(clip.streams.audio[0]):
            samples = sound.to_ndarray().astype(np.float32).reshape(len(sound.layout.channels), -1).mean(axis=0)
            window = max(1, sound.sample_rate // 200)  # 5 ms
            for i in range(0, samples.size - window + 1, window):
                now = float(np.sqrt(np.mean(samples[i : i + window] ** 2))) > 0.03
                if now and not loud and sound.time is not None:
                    beeps.append(sound.time + i / sound.sample_rate)
                loud = now
    return flashes, beeps


def offsets(path: Path) -> list[float]:
    """For each flash, how far the nearest beep is from it (positive: the sound comes late). A
    clip that opens in the middle of a flash has no onset there: only whole flashes count."""
    flashes, beeps = onsets(path)
    whole = [f for f in flashes if f > flashes[0] + 0.5] if flashes and flashes[0] < 0.3 else flashes
    assert whole and beeps, (flashes, beeps)
    return [min((b - f for b in beeps), key=abs) for f in whole]


MATRIX = [
    ("aac", "passthrough"),
    ("aac", "annotated"),
    ("pcma", "passthrough"),
    ("pcmu", "annotated"),
    ("opus", "passthrough"),
]


@pytest.mark.parametrize(("sent", "mode"), MATRIX)
def test_clips_keep_the_camera_sound_in_sync(
    synced_clip: Callable[..., Path],
    rtsp_server: Callable[..., RtspServer],
    daemon: Callable[..., Daemon],
    sent: str,
    mode: str,
) -> None:
    """AAC is copied, the others become AAC; the sound covers the pre-roll and stays within
    SYNC_TOLERANCE_S of the picture at every flash."""
    server = rtsp_server(clip=synced_clip(), audio=sent)
    proc = daemon(RTSP_URL=server.url, RECORD_MODE=mode, CLIP_SECONDS="6", PRE_SECONDS="2", SNAPSHOT_INTERVAL="0")
    _, saved = proc.wait_for("clip_saved", 40)
    assert proc.terminate()[0] == 0
    clip = Path(saved["path"])
    tracks = streams(clip)
    video, audio = tracks["video"], tracks["audio"]
    shifts = offsets(clip)
    print(
        f"{sent} camera, {mode}: {video['codec_name']} + {audio['codec_name']} {audio['sample_rate']} Hz, "
        f"video {float(video['start_time']):.3f}+{float(video['duration']):.2f} s, "
        f"audio {float(audio['start_time']):.3f}+{float(audio['duration']):.2f} s, "
        f"sync {[round(s * 1000) for s in shifts]} ms"
    )
    assert audio["codec_name"] == "aac" and audio["codec_tag_string"] == "mp4a"
    assert abs(float(audio["start_time"]) - float(video["start_time"])) <= SYNC_TOLERANCE_S  # the pre-roll too
    assert abs(float(audio["duration"]) - float(video["duration"])) <= 0.3
    assert len(shifts) >= int(5 / FLASH_EVERY_S)
    assert all(abs(shift) <= SYNC_TOLERANCE_S for shift in shifts), shifts
    assert decodes_cleanly(clip)


def test_a_clip_with_sound_plays_in_chromium(
    synced_clip: Callable[..., Path],
    rtsp_server: Callable[..., RtspServer],
    daemon: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    server = rtsp_server(clip=synced_clip(), audio="pcma")
    proc = daemon(RTSP_URL=server.url, CLIP_SECONDS="4", PRE_SECONDS="1", SNAPSHOT_INTERVAL="0")
    _, saved = proc.wait_for("clip_saved", 40)
    assert proc.terminate()[0] == 0
    seen = play_in_chromium(Path(saved["path"]), tmp_path / "chromium")
    assert seen.get("playing") and seen.get("advanced") and 3.5 <= seen["duration"] <= 5.5, seen


def test_record_audio_off_gives_clips_without_sound(
    synced_clip: Callable[..., Path], rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon]
) -> None:
    server = rtsp_server(clip=synced_clip(), audio="aac")
    proc = daemon(RTSP_URL=server.url, RECORD_AUDIO="off", CLIP_SECONDS="3", PRE_SECONDS="1", SNAPSHOT_INTERVAL="0")
    _, saved = proc.wait_for("clip_saved", 40)
    assert proc.terminate()[0] == 0
    assert set(streams(Path(saved["path"]))) == {"video"}


def test_sound_that_stops_never_holds_back_the_pictures(
    synced_clip: Callable[..., Path], rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon]
) -> None:
    """The camera's sound ends 8 s in, the picture goes on. FFmpeg's muxer would hold the
    pictures back for 10 s waiting for sound, and a kill then lost them: killed 14 s into the
    clip, what is recovered must reach to its last fragment (a keyframe a second)."""
    server = rtsp_server(clip=synced_clip(seconds=30, sound_s=8), audio="aac")  # gst skips a track under 20 %
    proc = daemon(RTSP_URL=server.url, RECORD_MODE="passthrough", CLIP_SECONDS="30", PRE_SECONDS="1")
    started, _ = proc.wait_for("clip_started", 30)
    time.sleep(max(0.0, started + 14.0 - time.monotonic()))
    assert proc.process is not None
    proc.process.send_signal(signal.SIGKILL)
    proc.process.wait(10)
    again = daemon(RTSP_URL="demo", SNAPSHOT_INTERVAL="0")
    _, recovered = again.wait_for("clip_recovered", 20)
    assert again.terminate()[0] == 0
    clip = streams(Path(recovered["path"]))
    print(
        f"sound stopped 8 s in, killed 14 s into the clip: {recovered['duration_s']} s recovered, "
        f"sound {float(clip['audio']['duration']):.2f} s"
    )
    assert recovered["duration_s"] >= 12.0
    assert float(clip["audio"]["duration"]) <= 8.1  # the sound as sent: 8 s and its last AAC frame


def test_a_camera_that_sends_only_sound_for_a_while_is_stalled_and_records_again(
    synced_clip: Callable[..., Path], rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon]
) -> None:
    """The picture stops 6 s in, the sound goes on: the sound never counts as a picture, so the
    camera is stalled after STALL_TIMEOUT and reconnected, and records pictures again."""
    server = rtsp_server(clip=synced_clip(seconds=20, picture_s=6), audio="aac")
    proc = daemon(RTSP_URL=server.url, RECORD_MODE="passthrough", CLIP_SECONDS="3", PRE_SECONDS="1", STALL_TIMEOUT="3")
    first, _ = proc.wait_for("camera_connected", 20)
    _, lost = proc.wait_for("camera_lost", 20)
    assert lost["reason"] == "stalled" and lost["error"] == "no picture for 3 s"
    again, _ = proc.wait_for("camera_connected", 20, count=2)
    _, saved = proc.wait_for("clip_saved", 20, since=again)
    assert proc.terminate()[0] == 0
    clip = Path(saved["path"])
    tracks = streams(clip)
    print(f"only sound from 6 s: camera_lost '{lost['error']}', connected again {again - first:.1f} s after the first")
    assert {"video", "audio"} <= set(tracks) and decodes_cleanly(clip)
