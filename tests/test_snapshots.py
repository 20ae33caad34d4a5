import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from vcam import layout, snapshots, storage
from vcam.schedule import Every


def test_schedule_first_frame_then_every_interval() -> None:
    schedule = Every(10)
    fired = [t for t in (0, 1, 9.9, 10, 15, 20.5, 29, 30) if schedule.due(t)]
    assert fired == [0, 10, 20.5, 30]


def test_schedule_skips_missed_slots_after_a_gap() -> None:
    schedule = Every(10)
    assert schedule.due(0)
    assert schedule.due(95)  # camera was down: one snapshot now, not nine to catch up
    assert not schedule.due(100)
    assert schedule.due(105)


def test_schedule_off() -> None:
    schedule = Every(0)
    assert not any(schedule.due(t) for t in range(100))


def test_path_is_camera_date_time_in_local_time(tmp_path: Path) -> None:
    wall = time.mktime((2026, 3, 7, 8, 9, 10, 0, 0, -1))
    path = layout.snapshot_path(tmp_path, "front", wall)
    assert path == tmp_path / "front/snapshots/2026-03-07/08_09_10.jpg"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")  # taken (the hour that repeats when DST ends): the next is another name
    assert layout.snapshot_path(tmp_path, "front", wall) == tmp_path / "front/snapshots/2026-03-07/08_09_10_2.jpg"


def test_save_jpeg_is_whole_and_leaves_no_partial_file(tmp_path: Path) -> None:
    image = np.zeros((48, 64, 3), np.uint8)
    image[10:20, 10:20] = 255
    path = tmp_path / "a" / "b.jpg"
    snapshots.save_jpeg(path, image, root=tmp_path)
    assert os.listdir(path.parent) == ["b.jpg"]
    decoded = cv2.imread(str(path))
    assert decoded is not None
    assert decoded.shape == (48, 64, 3)


def test_atomic_write_failure_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "x.jpg"
    target.mkdir()  # renaming a file over a directory fails
    with pytest.raises(IsADirectoryError):
        storage.atomic_write(target, b"data", root=tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["x.jpg"]


def test_check_writable(tmp_path: Path) -> None:
    storage.check_writable(tmp_path / "new" / "dir")
    assert (tmp_path / "new" / "dir").is_dir()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NotADirectoryError):
        storage.check_writable(blocker / "sub")
