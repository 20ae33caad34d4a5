"""Clips from the real daemon recording a real RTSP camera, checked with ffprobe, ffmpeg and PyAV."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import pytest
from conftest import (
    Daemon,
    RtspServer,
    _require,
    decodes_cleanly,
    ffprobe,
    play_in_chromium,
    source_index,
    thumbnails,
    wait_until,
)

from vcam import layout
from vcam.eventlog import EventLog

pytestmark = pytest.mark.slow


def clips(video_dir: Path) -> list[Path]:
    return sorted(p for p in video_dir.glob("*/*/*.mp4") if not p.name.startswith("."))


def red_times(path: Path) -> list[float]:
    """Times (s from the clip's start) of the frames that show the red square."""
    found = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24").astype(int)
            red = (rgb[:, :, 0] > 180) & (rgb[:, :, 1] < 80) & (rgb[:, :, 2] < 80)
            if red.sum() > 200:
                found.append(float(frame.time or 0.0))
    return found


def temp_files(video_dir: Path) -> list[Path]:
    """What is left in TEMP_DIR besides the camera's lock file (kept: the lock is on the file)."""
    return [p for p in (video_dir / ".tmp").rglob("*") if p.is_file() and p.name != layout.LOCK_NAME]


@pytest.mark.parametrize("mode", ["annotated", "passthrough"])
def test_a_motion_event_gives_a_30_s_clip_with_pre_roll(
    make_clip: Callable[..., Path],
    rtsp_server: Callable[..., RtspServer],
    daemon: Callable[..., Daemon],
    tmp_path: Path,
    mode: str,
) -> None:
    server = rtsp_server(clip=make_clip(seconds=60, onset=8))
    proc = daemon(RTSP_URL=server.url, RECORD_MODE=mode, PRE_SECONDS="3")
    proc.wait_for("motion_started", 20)
    _, saved = proc.wait_for("clip_saved", 50)
    path = Path(saved["path"])
    assert path.parent.parent == tmp_path / "video" / "camera"
    assert path.name.startswith("camera_") and path.suffix == ".mp4"
    facts = ffprobe(path)
    duration = float(facts["duration"])
    print(f"{mode}: clip {path.name} duration {duration:.2f} s, {facts['nb_read_frames']} frames")
    assert facts["codec_name"] == "h264"
    assert facts["pix_fmt"] == "yuv420p"
    assert abs(duration - 30) <= 1
    assert decodes_cleanly(path)
    red = red_times(path)
    assert red, "the moving square is in the clip"
    print(f"{mode}: motion appears {red[0]:.2f} s into the clip (PRE_SECONDS=3)")
    assert 2.0 <= red[0] <= 4.5  # the clip starts about 3 s before the motion did
    played = play_in_chromium(path, tmp_path / "chromium")
    print(f"{mode}: Chromium saw {played}")
    assert abs(played["duration"] - 30) <= 1
    assert played.get("playing") is True
    assert played.get("advanced", 0) > 1.0
    assert proc.terminate()[0] == 0
    assert temp_files(tmp_path / "video") == []


@pytest.mark.parametrize("mode", ["annotated", "passthrough"])
def test_continuous_motion_gives_consecutive_clips_with_no_gap(
    make_clip: Callable[..., Path],
    rtsp_server: Callable[..., RtspServer],
    daemon: Callable[..., Daemon],
    mode: str,
) -> None:
    served = make_clip()  # testsrc2 moves all the time
    server = rtsp_server(clip=served)
    proc = daemon(RTSP_URL=server.url, RECORD_MODE=mode, CLIP_SECONDS="10", PRE_SECONDS="2")
    proc.wait_for("clip_saved", 60, count=2)
    assert proc.terminate()[0] == 0
    first, second = (Path(e["path"]) for _, e in proc.events("clip_saved")[:2])
    durations = [float(ffprobe(p)["duration"]) for p in (first, second)]
    print(f"{mode}: consecutive clips {durations} s")
    for duration in durations:
        assert abs(duration - 10) <= 1.05  # a 1 s GOP for stream copy
    source = thumbnails(served)
    one, two = thumbnails(first), thumbnails(second)
    last_of_first, first_of_second = source_index(source, one[-1]), source_index(source, two[0])
    print(f"{mode}: first clip ends at source frame {last_of_first}, the next starts at {first_of_second}")
    assert first_of_second == last_of_first + 1  # not one frame lost, none twice
    inside = [source_index(source, t) for t in one]
    assert inside == list(range(inside[0], inside[0] + len(one)))  # and none lost inside a clip


def test_sigterm_finishes_the_clip_in_progress(
    make_clip: Callable[..., Path],
    rtsp_server: Callable[..., RtspServer],
    daemon: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    server = rtsp_server(clip=make_clip(seconds=60, onset=3))
    proc = daemon(RTSP_URL=server.url)
    proc.wait_for("clip_started", 20)
    time.sleep(4)
    code, took = proc.terminate()
    print(f"SIGTERM during a clip: exit {code} after {took:.2f} s")
    assert code == 0
    assert took < 10
    (saved,) = [e for _, e in proc.events("clip_saved")]
    path = Path(saved["path"])
    assert path.exists() and decodes_cleanly(path)
    assert 4 <= float(ffprobe(path)["duration"]) <= 12
    assert temp_files(tmp_path / "video") == []


def test_sigkill_mid_clip_is_recovered_at_the_next_start(
    make_clip: Callable[..., Path],
    rtsp_server: Callable[..., RtspServer],
    daemon: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    server = rtsp_server(clip=make_clip(seconds=60, onset=3))
    proc = daemon(RTSP_URL=server.url)
    proc.wait_for("clip_started", 20)
    time.sleep(8)
    assert proc.process is not None
    proc.process.send_signal(signal.SIGKILL)
    proc.process.wait(10)
    left = [p for p in temp_files(tmp_path / "video") if p.suffix == ".mp4"]
    assert len(left) == 1  # the fragmented clip in TEMP_DIR
    again = daemon(RTSP_URL=server.url)
    _, recovered = again.wait_for("clip_recovered", 15)
    path = Path(recovered["path"])
    assert path.name.endswith("_partial.mp4")
    duration = float(ffprobe(path)["duration"])
    print(f"recovered after SIGKILL at ~8 s into the clip: {duration:.2f} s playable")
    assert duration >= 5  # all but the last fragment (2 s GOP)
    assert decodes_cleanly(path)
    assert again.terminate()[0] == 0


def test_camera_dropping_mid_event_keeps_the_clip_and_recording_resumes_after_the_reconnect(
    rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon]
) -> None:
    server = rtsp_server()  # moves all the time: the event goes on across the drop
    proc = daemon(RTSP_URL=server.url, RECONNECT_DELAY="1", RECONNECT_MAX_DELAY="1")
    proc.wait_for("clip_started", 20)
    time.sleep(3)
    server.kill()
    dropped = time.monotonic()
    _, saved = proc.wait_for("clip_saved", 15, since=dropped)
    assert decodes_cleanly(Path(saved["path"])) and 2 <= saved["duration_s"] < 30
    server.start()  # the camera comes back on the same address, and the scene is still moving
    back = time.monotonic()
    proc.wait_for("camera_connected", 15, since=back)
    proc.wait_for("clip_started", 20, since=back)
    assert proc.terminate()[0] == 0
    _, resumed = proc.wait_for("clip_saved", 5, since=back)
    assert Path(resumed["path"]) != Path(saved["path"]) and decodes_cleanly(Path(resumed["path"]))


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 MB tmpfs the test can make read-only (needs root, as in CI)."""
    mount = tmp_path / "fs"
    mount.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)]).returncode == 0
    )
    _require(mounted, "mounting a tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_read_only_video_dir_is_a_clear_error_not_a_crash(
    make_clip: Callable[..., Path],
    rtsp_server: Callable[..., RtspServer],
    daemon: Callable[..., Daemon],
    small_fs: Path,
) -> None:
    server = rtsp_server(clip=make_clip(seconds=60, onset=6))
    # the event log lives elsewhere: a database open for writing would keep the remount from happening
    events = small_fs.parent / "events.sqlite3"
    proc = daemon(RTSP_URL=server.url, VIDEO_DIR=str(small_fs), CLIP_SECONDS="5", EVENTS_DB=str(events))
    proc.wait_for("camera_connected", 15)
    remount = lambda: subprocess.run(["mount", "-o", "remount,ro", str(small_fs)]).returncode == 0  # noqa: E731
    assert wait_until(remount, 10)  # retried: the health file may be open for a moment
    _, failed = proc.wait_for("clip_failed", 20)
    print(f"read-only VIDEO_DIR: {failed['error']}")
    assert "Read-only file system" in failed["error"]
    assert proc.process is not None and proc.process.poll() is None
    subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True)
    assert proc.terminate()[0] == 0
    assert "Traceback" not in proc.output()


@pytest.mark.parametrize("fault", ["read-only", "unplugged"])
def test_a_disk_lost_while_recording_is_one_line_then_one_on_recovery(
    rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon], small_fs: Path, tmp_path: Path, fault: str
) -> None:
    """The SD card remounted read-only, or the USB disk unplugged, in the middle of continuous
    motion: one clip_failed naming the cause, no traceback, no folder made on the disk below,
    and recording goes on by itself once the disk is back."""
    server = rtsp_server()  # moves all the time: one clip after another
    video = small_fs / "video"
    video.mkdir()
    proc = daemon(
        RTSP_URL=server.url,
        VIDEO_DIR=str(video),
        EVENTS_DB=str(tmp_path / "events.sqlite3"),
        # unplugged: TEMP_DIR inside VIDEO_DIR (the default) goes with it; read-only: elsewhere, as
        # a tmpfs cannot be remounted read-only while a clip in it is open for writing
        TEMP_DIR=str(video / ".tmp" if fault == "unplugged" else tmp_path / "tmp"),
        CLIP_SECONDS="2",
        PRE_SECONDS="1",
        SNAPSHOT_INTERVAL="1",
        MIN_FREE_GB="0",  # the 64 MB disk could never keep 1 GB free
    )
    proc.wait_for("clip_saved", 30)
    if fault == "read-only":
        remount = lambda: subprocess.run(["mount", "-o", "remount,ro", str(small_fs)]).returncode == 0  # noqa: E731
        assert wait_until(remount, 10)
    else:
        subprocess.run(["umount", "-l", str(small_fs)], check=True)  # VIDEO_DIR's disk is gone
    lost = time.monotonic()
    time.sleep(12)  # six clips' worth of motion, twelve snapshots
    failed = proc.events("clip_failed", since=lost)
    print(f"{fault}: {[e['error'] for _, e in failed]}")
    assert len(failed) == 1
    cause = "Read-only file system" if fault == "read-only" else "is gone (disk unplugged or not mounted?)"
    assert cause in failed[0][1]["error"]
    assert len(proc.events("snapshot_failed", since=lost)) == 1
    assert not video.exists() if fault == "unplugged" else True  # nothing made on the disk below
    if fault == "read-only":
        subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True)
    else:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(small_fs)], check=True)
        video.mkdir()
    back = time.monotonic()
    proc.wait_for("recording_recovered", 20, since=back)
    _, saved = proc.wait_for("clip_saved", 20, since=back)
    assert Path(saved["path"]).is_relative_to(video) and decodes_cleanly(Path(saved["path"]))
    assert proc.terminate()[0] == 0
    output = proc.output()
    assert "Traceback" not in output
    errors = [e["event"] for _, e in proc.lines if e.get("level") == "error"]
    assert sorted(set(errors)) == ["clip_failed", "snapshot_failed"], errors


def test_disk_full_makes_room_by_policy_and_recording_goes_on(
    rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon], small_fs: Path, tmp_path: Path
) -> None:
    subprocess.run(["mount", "-o", "remount,size=6m", str(small_fs)], check=True)
    old = small_fs / "camera" / "2020-01-01" / "camera_20200101_000000.mp4"
    old.parent.mkdir(parents=True)
    free = os.statvfs(small_fs).f_bavail * os.statvfs(small_fs).f_frsize
    old.write_bytes(b"\0" * (free - 150_000))  # leaves 120 kB: over MIN_FREE, too little for a clip
    newer = small_fs / "camera" / "2020-01-02" / "camera_20200102_000000.mp4"  # the newest clip is always kept
    newer.parent.mkdir(parents=True)
    newer.write_bytes(b"\0" * 30_000)
    server = rtsp_server()  # moves all the time: clips one after another
    proc = daemon(
        RTSP_URL=server.url,
        VIDEO_DIR=str(small_fs),
        EVENTS_DB=str(tmp_path / "events.sqlite3"),
        CLIP_SECONDS="4",
        MIN_FREE_GB="0.00008",  # 80 kB
        RETENTION_DAYS="0",
        SNAPSHOT_INTERVAL="0",
    )
    _, full = proc.wait_for("disk_full", 60)
    deleted = [e for _, e in proc.events("file_deleted")]
    print(f"disk full: freed {full['freed_mb']} MB by deleting {[Path(e['path']).name for e in deleted]}")
    assert any(Path(e["path"]) == old and e["reason"] == "min_free" for e in deleted)
    _, saved = proc.wait_for("clip_saved", 30, since=time.monotonic())
    assert decodes_cleanly(Path(saved["path"]))
    assert proc.process is not None and proc.process.poll() is None
    assert proc.terminate()[0] == 0


def test_events_end_with_their_real_end_after_sigkill_and_sigterm(
    rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    """Killed mid-event, the event ends at its last saved motion (at most 2 s lost), not with
    end = start; stopped mid-event, it is closed and logged with its end and peak area."""
    server = rtsp_server()  # moves all the time
    killed = daemon(RTSP_URL=server.url, SNAPSHOT_INTERVAL="0")
    killed.wait_for("motion_started", 20)
    time.sleep(5)
    assert killed.process is not None
    killed.process.kill()
    killed.process.wait(10)
    stopped = daemon(RTSP_URL=server.url, SNAPSHOT_INTERVAL="0")
    stopped.wait_for("motion_started", 20)
    time.sleep(3)
    assert stopped.terminate()[0] == 0
    ((_, ended),) = stopped.events("motion_ended")
    assert ended["duration_s"] >= 2.5 and ended["peak_area"] > 0 and ended["end"]
    log = EventLog(tmp_path / "video" / "events.sqlite3")
    try:
        cut, closed = log.events()
    finally:
        log.close()
    assert cut.end is not None and closed.end is not None
    print(f"killed 5 s into an event: {cut.end - cut.start:.1f} s, peak {cut.peak_area:.1f} %")
    print(f"stopped 3 s into an event: {closed.end - closed.start:.1f} s")
    assert 5 - 2 - 0.5 <= cut.end - cut.start <= 5 + 0.5 and cut.peak_area > 0
    assert abs((closed.end - closed.start) - ended["duration_s"]) < 0.1
    assert closed.peak_area == pytest.approx(ended["peak_area"], abs=0.01)
