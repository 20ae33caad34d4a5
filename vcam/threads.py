"""Threads that carry their names into the operating system, so `top -H`, `ps -L` and the bench's
per-thread CPU (/proc/PID/task/*/comm) say which is the reader, the worker or the recorder."""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable

PR_SET_NAME = 15  # prctl(2); Linux keeps 15 characters of a thread's name
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def start(name: str, target: Callable[[], None]) -> threading.Thread:
    """A daemon thread named ``name`` in Python and, cut to 15 characters, in the kernel."""

    def named() -> None:
        _libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
        target()

    thread = threading.Thread(target=named, name=name, daemon=True)
    thread.start()
    return thread
