"""With malloc tuned, picture-sized blocks a thread frees go back to the system, even when small
long-lived blocks were allocated between them (which pins them in a heap by default)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = textwrap.dedent(
    """
    import json, sys, threading
    import numpy as np
    from vcam import memory

    tuned = memory.tune_malloc() if sys.argv[1] == "tuned" else None

    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

    result = {"tuned": tuned}

    def burst():
        first = np.ones(1_400_000, np.uint8)  # freeing one raises glibc's default mmap threshold
        del first
        pictures, small = [], []
        for _ in range(40):
            pictures.append(np.ones(1_400_000, np.uint8))  # 720p yuv420p-sized
            small.append(np.ones(1000, np.uint8))
        result["peak"] = rss_mb()
        pictures.clear()
        result["after"] = rss_mb()

    thread = threading.Thread(target=burst)
    thread.start()
    thread.join()
    print(json.dumps(result))
    """
)


def burst(mode: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True, cwd=REPO)
    result: dict[str, float] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_pictures_go_back_to_the_system() -> None:
    tuned = burst("tuned")
    assert tuned["tuned"] is True
    assert tuned["peak"] - tuned["after"] > 45, tuned  # of the 56 MB of pictures
    untuned = burst("plain")
    assert untuned["after"] > tuned["after"] + 30, (untuned, tuned)  # what the tuning is for
