"""Several cameras in one daemon, from a TOML file, each against its own gst-rtsp-server: one
camera's failure never delays another's frames or clips."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Daemon, RtspServer, decodes_cleanly, ffprobe

pytestmark = pytest.mark.slow

SNAPSHOT_EVERY_S = 1.0
CLIP_S = 4.0


def cameras_file(folder: Path, urls: dict[str, str]) -> Path:
    path = folder / "vcam.toml"
    text = (
        "[defaults]\n"
        f'record_mode = "passthrough"\nclip_seconds = {CLIP_S:g}\npre_seconds = 1\n'
        f"snapshot_interval = {SNAPSHOT_EVERY_S:g}\nstall_timeout = 3\nreconnect_delay = 0.5\n"
        "reconnect_max_delay = 1\n"
    )
    for name, url in urls.items():
        text += f'\n[[cameras]]\nname = "{name}"\nurl = "{url}"\n'
    path.write_text(text)
    return path


def of(proc: Daemon, event: str, camera: str, since: float = 0.0) -> list[tuple[float, dict[str, object]]]:
    return [(t, e) for t, e in proc.events(event, since) if e.get("camera") == camera]


def test_one_camera_killed_and_one_frozen_never_delay_the_healthy_one(
    rtsp_server: Callable[..., RtspServer], daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    servers = {name: rtsp_server() for name in ("healthy", "killed", "frozen")}  # testsrc2: always moving
    config = cameras_file(tmp_path, {name: server.url for name, server in servers.items()})
    proc = daemon("--config", str(config))
    for name in servers:
        deadline = time.monotonic() + 30
        while not of(proc, "clip_saved", name) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert of(proc, "clip_saved", name), f"{name}: no clip; {proc.output()[-3000:]}"

    servers["killed"].kill()
    servers["frozen"].freeze()
    broken = time.monotonic()
    time.sleep(15)
    snapshots = [t for t, _ in of(proc, "snapshot_saved", "healthy", since=broken)]
    clips = [e for t, e in of(proc, "clip_saved", "healthy", since=broken)]
    lost = {  # lost mid-stream, or (caught between two connections) unavailable at the next try
        name: of(proc, "camera_lost", name, since=broken) + of(proc, "camera_unavailable", name, since=broken)
        for name in ("killed", "frozen")
    }
    gaps = [b - a for a, b in itertools.pairwise(snapshots)]
    durations = [float(str(e["duration_s"])) for e in clips]
    print(
        f"while one camera was killed and one frozen, the healthy one: {len(snapshots)} snapshots in 15 s "
        f"(gaps {min(gaps):.2f}-{max(gaps):.2f} s), clips {durations} s"
    )
    assert lost["killed"] and lost["frozen"], lost  # both noticed (the frozen one by its stall timeout)
    assert len(snapshots) >= 13 and max(gaps) <= SNAPSHOT_EVERY_S + 0.5
    assert len(clips) >= 2 and all(abs(d - CLIP_S) <= 1.1 for d in durations)  # ±1 GOP (1 s)
    for clip in clips:
        assert decodes_cleanly(Path(str(clip["path"])))

    servers["frozen"].thaw()
    servers["killed"].start()  # the same port again: the camera is back
    back = time.monotonic()
    for name in ("killed", "frozen"):
        deadline = time.monotonic() + 20
        while not of(proc, "camera_connected", name, since=back) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert of(proc, "camera_connected", name, since=back), f"{name} did not come back"
    assert proc.terminate()[0] == 0
    folders = sorted(p.name for p in (tmp_path / "video").iterdir() if p.is_dir() and not p.name.startswith("."))
    assert folders == ["frozen", "healthy", "killed"]
    assert float(ffprobe(Path(str(clips[0]["path"])))["duration"]) >= CLIP_S - 1.1
