"""Cameras as they come: RTSP servers other than the test rig's, transports, codecs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from conftest import REPO, Daemon, RtspServer, VlcServer, decodes_cleanly, ffprobe

pytestmark = pytest.mark.slow


def test_auto_transport_uses_udp_where_the_camera_refuses_tcp_and_records(
    vlc_server: Callable[..., VlcServer], rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon]
) -> None:
    """VLC's RTSP server offers UDP only; gst-rtsp-server both (TCP is taken)."""
    udp_only = vlc_server()  # testsrc2: it moves all the time
    proc = daemon(RTSP_URL=udp_only.url, CLIP_SECONDS="4", PRE_SECONDS="1", SNAPSHOT_INTERVAL="0")
    _, connected = proc.wait_for("camera_connected", 20)
    assert connected["transport"] == "udp"
    _, saved = proc.wait_for("clip_saved", 30)
    clip = Path(saved["path"])
    assert decodes_cleanly(clip) and 3.5 <= float(ffprobe(clip)["duration"]) <= 5.5
    assert proc.terminate()[0] == 0

    both = rtsp_server()
    proc = daemon(RTSP_URL=both.url, SNAPSHOT_INTERVAL="0")
    _, connected = proc.wait_for("camera_connected", 20)
    assert connected["transport"] == "tcp"
    assert proc.terminate()[0] == 0


def test_a_forced_transport_the_camera_refuses_says_what_to_set(
    vlc_server: Callable[..., VlcServer], daemon: Callable[..., Daemon]
) -> None:
    server = vlc_server()
    proc = daemon(RTSP_URL=server.url, RTSP_TRANSPORT="tcp", RECONNECT_DELAY="0.2", RECONNECT_MAX_DELAY="0.2")
    _, failure = proc.wait_for("camera_unavailable", 20)
    assert failure["reason"] == "transport_refused"
    assert "refused RTSP over TCP" in failure["error"] and "RTSP_TRANSPORT=auto" in failure["error"]
    assert "Errno" not in failure["error"]
    assert proc.terminate()[0] == 0
    probe = subprocess.run(
        [sys.executable, "-m", "vcam", "probe", server.url], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert probe.returncode == 0 and "transport=udp" in probe.stdout and "audio=none" in probe.stdout


def codec_tag(path: Path) -> str:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_tag_string",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return out.stdout.strip()


@pytest.mark.parametrize("mode", ["passthrough", "annotated"])
def test_an_h265_camera_gives_clips_apple_devices_play(
    rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon], mode: str
) -> None:
    """Passthrough keeps H.265, tagged hvc1 (Safari and iPhones play no hev1); annotated clips are
    H.264, which every browser plays: the way to get H.264 from an H.265 camera."""
    server = rtsp_server(codec="h265")  # moves all the time
    proc = daemon(RTSP_URL=server.url, RECORD_MODE=mode, CLIP_SECONDS="4", PRE_SECONDS="1", SNAPSHOT_INTERVAL="0")
    _, connected = proc.wait_for("camera_connected", 20)
    assert connected["codec"] == "hevc"
    _, saved = proc.wait_for("clip_saved", 40)
    assert proc.terminate()[0] == 0
    clip = Path(saved["path"])
    facts = ffprobe(clip)
    print(f"h265 camera, {mode}: {facts['codec_name']} tagged {codec_tag(clip)}, {float(facts['duration']):.1f} s")
    assert (facts["codec_name"], codec_tag(clip)) == (("hevc", "hvc1") if mode == "passthrough" else ("h264", "avc1"))
    assert decodes_cleanly(clip) and 3.5 <= float(facts["duration"]) <= 6


def with_a_gap(source: Path, target: Path, at: float, gap: float) -> Path:
    """``source`` stream-copied with every timestamp from ``at`` seconds on moved ``gap`` later."""
    with av.open(str(source)) as inp, av.open(str(target), "w", format="mp4") as out:
        stream = inp.streams.video[0]
        copy = out.add_stream_from_template(stream)
        assert stream.time_base is not None
        shift = round(gap / stream.time_base)
        for packet in inp.demux(stream):
            if packet.dts is None:
                continue
            if packet.pts is not None and packet.pts * stream.time_base >= at:
                packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
            packet.stream = copy
            out.mux(packet)
    return target


def test_timestamps_that_jump_never_give_a_clip_of_the_wrong_length(
    make_clip: Callable[..., Path], daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    """A camera whose clock jumps five minutes ahead in the middle of an event: clips are still
    CLIP_SECONDS of the time that passed, none cut short or empty, and nothing stalls."""
    jumpy = with_a_gap(make_clip(seconds=12, fps=10), tmp_path / "jumpy.mp4", at=6.0, gap=300.0)
    proc = daemon(RTSP_URL=str(jumpy), RECORD_MODE="passthrough", CLIP_SECONDS="3", PRE_SECONDS="1")
    proc.wait_for("clip_saved", 30, count=3)
    assert proc.terminate()[0] == 0
    durations = [e["duration_s"] for _, e in proc.events("clip_saved")]
    print(f"clips across a 300 s timestamp jump: {durations} s")
    assert all(2.5 <= d <= 3 + 1.0 for d in durations[:-1])  # a keyframe a second: cut within one
    assert not proc.events("camera_lost")


def mjpeg_records(url: str, daemon: Callable[..., Daemon], video: Path) -> tuple[float, float]:
    """The daemon on an MJPEG camera: snapshots come, and an annotated clip of the motion is saved
    (an MJPEG stream cannot be copied into MP4). Returns the clip's duration and frame rate."""
    proc = daemon(RTSP_URL=url, SNAPSHOT_INTERVAL="1", CLIP_SECONDS="3", PRE_SECONDS="1", RECORD_MODE="passthrough")
    _, connected = proc.wait_for("camera_connected", 20)
    assert connected["codec"] == "mjpeg"
    proc.wait_for("passthrough_unavailable", 5)  # said, and recorded annotated instead
    _, saved = proc.wait_for("clip_saved", 30)
    assert proc.terminate()[0] == 0
    assert len(list(video.rglob("snapshots/*/*.jpg"))) >= 2
    clip = Path(saved["path"])
    facts = ffprobe(clip)
    assert facts["codec_name"] == "h264" and decodes_cleanly(clip)
    return float(facts["duration"]), int(facts["nb_read_frames"]) / float(facts["duration"])


@pytest.mark.parametrize("mjpeg_server", ["plain", "no-length", "odd-boundary"], indirect=True)
def test_mjpeg_cameras_with_their_quirks(mjpeg_server: str, daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    duration, fps = mjpeg_records(mjpeg_server, daemon, tmp_path / "video")
    print(f"MJPEG: clip {duration:.1f} s at {fps:.1f} fps")
    assert 2.5 <= duration <= 4.5 and 7 <= fps <= 13  # 10 fps, timed by arrival


def test_motion_re_serving_a_camera_as_mjpeg(motion_mjpeg: str, daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    """Motion's MJPEG stream output, as other recorders and phone apps send it."""
    duration, fps = mjpeg_records(motion_mjpeg, daemon, tmp_path / "video")
    print(f"Motion's MJPEG: clip {duration:.1f} s at {fps:.1f} fps")
    assert 2.5 <= duration <= 4.5 and fps >= 3


def two_sizes(folder: Path) -> Path:
    """One H.264 stream whose picture changes from 320x240 to 640x360 after 6 s, as a camera
    reconfigured on the fly sends it (a new SPS, no reconnect): two MPEG-TS parts, concatenated."""
    parts = []
    for size in ("320x240", "640x360"):
        part = folder / f"part_{size}.ts"
        subprocess.run(
            [
                *("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=10", "-t", "6"),
                *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "10", str(part)),
            ],
            check=True,
            timeout=60,
        )
        parts.append(part.read_bytes())
    joined = folder / "two_sizes.ts"
    joined.write_bytes(b"".join(parts))
    return joined


@pytest.mark.parametrize("mode", ["passthrough", "annotated"])
def test_a_camera_that_changes_its_picture_keeps_recording_without_mixing_sizes(
    daemon: Callable[..., Daemon], tmp_path: Path, mode: str
) -> None:
    source = two_sizes(tmp_path)  # a file source: it loops, so the picture changes every 6 s
    proc = daemon(RTSP_URL=str(source), RECORD_MODE=mode, CLIP_SECONDS="2", PRE_SECONDS="1", SNAPSHOT_INTERVAL="1")
    proc.wait_for("camera_changed", 20, count=2)
    proc.wait_for("clip_saved", 20, count=4)
    assert proc.terminate()[0] == 0
    changes = [(e["before"], e["after"]) for _, e in proc.events("camera_changed")]
    assert changes[:2] == [("320x240", "640x360"), ("640x360", "320x240")]
    sizes = set()
    for _, saved in proc.events("clip_saved"):
        clip = Path(saved["path"])
        facts = ffprobe(clip)
        size = f"{facts['width']}x{facts['height']}"
        assert decodes_cleanly(clip), clip  # one size per clip: a mixed one would not decode cleanly
        sizes.add(size)
    print(f"{mode}: changes {changes[:2]}, clip sizes {sorted(sizes)}")
    assert sizes == {"320x240", "640x360"}
    assert "Traceback" not in proc.output() and not proc.events("worker_error")


def test_a_camera_that_comes_back_as_another_codec_and_size_records_in_the_new_one(
    make_clip: Callable[..., Path], rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon]
) -> None:
    """A firmware update or a settings change: the camera drops and returns as H.265 at 640x360."""
    before = rtsp_server()
    proc = daemon(
        RTSP_URL=before.url, RECORD_MODE="passthrough", CLIP_SECONDS="2", PRE_SECONDS="1", RECONNECT_DELAY="1"
    )
    proc.wait_for("clip_saved", 30)
    before.kill()
    after = RtspServer(make_clip(size="640x360", codec="h265"), before.port, codec="h265").start()
    try:
        _, connected = proc.wait_for("camera_connected", 20, count=2)
        assert (connected["codec"], connected["width"], connected["height"]) == ("hevc", 640, 360)
        saved = len(proc.events("clip_saved"))
        proc.wait_for("clip_saved", 30, count=saved + 2)
        assert proc.terminate()[0] == 0
    finally:
        after.kill()
    kinds = []
    for _, event in proc.events("clip_saved"):
        facts = ffprobe(Path(event["path"]))
        kinds.append((facts["codec_name"], f"{facts['width']}x{facts['height']}"))
        assert decodes_cleanly(Path(event["path"]))
    print(f"clips before and after the camera changed: {kinds}")
    assert kinds[0] == ("h264", "320x240") and kinds[-2] == ("hevc", "640x360")
    assert set(kinds) == {("h264", "320x240"), ("hevc", "640x360")}  # none mixed
