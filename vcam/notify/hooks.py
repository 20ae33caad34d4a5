"""Command hooks: ON_MOTION_START, ON_MOTION_END, ON_CLIP_SAVED run a program (no shell) with the
event in environment variables, on a subscriber thread of their own: one at a time, each stopped
after HOOK_TIMEOUT; the exit status and the output's tail are logged; never fatal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vcam import bus, settings
from vcam.notify import messages
from vcam.notify.messages import Mask

OUTPUT_CHARS = 500  # of a hook's output, logged
HOOK_OF = {
    messages.MOTION_START: "ON_MOTION_START",
    messages.MOTION_END: "ON_MOTION_END",
    messages.CLIP_SAVED: "ON_CLIP_SAVED",
}


def environment(message: Mapping[str, Any], video_dir: Path) -> dict[str, str]:
    """The event as VCAM_* variables: paths absolute, so a script can open them from anywhere."""
    env = {"VCAM_EVENT": str(message["type"]), "VCAM_CAMERA": str(message["camera"]), "VCAM_JSON": json.dumps(message)}
    for key in ("start", "end", "duration_s", "area", "peak_area", "size", "mode"):
        if key in message:
            env[f"VCAM_{key.upper().removesuffix('_S')}"] = str(message[key])
    for key in ("snapshot", "clip"):
        if message.get(key):
            env[f"VCAM_{key.upper()}"] = str((video_dir / message[key]).absolute())
    return env


def inherited(environ: Mapping[str, str]) -> dict[str, str]:
    """The daemon's environment without vcam's settings: a hook gets no camera password."""
    return {k: v for k, v in environ.items() if k not in settings.BY_NAME}


class HookRunner:
    def __init__(
        self, hooks: Mapping[str, tuple[str, ...]], timeout: float, video_dir: Path, log: Any, *, mask: Mask
    ) -> None:
        self.hooks = dict(hooks)
        self.timeout = timeout
        self.video_dir = video_dir
        self.log = log.bind(notifier="hook")
        self.mask = mask
        self.sent = 0  # hooks that ran and exited 0
        self.failed = 0

    def handle(self, event: bus.Event) -> None:
        message = messages.describe(event, self.video_dir, self.mask)
        if message is None or HOOK_OF.get(message["type"]) not in self.hooks:
            return
        name = HOOK_OF[message["type"]]
        self.run(name, self.hooks[name], environment(message, self.video_dir))

    def run(self, name: str, argv: tuple[str, ...], extra: Mapping[str, str]) -> None:
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                argv,
                env={**inherited(os.environ), **extra},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its children are stopped with it at the timeout
            )
        except OSError as exc:
            self.failed += 1
            self.log.error("hook_failed", hook=name, command=argv[0], error=exc.strerror or str(exc))
            return
        try:
            output, _ = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            self.failed += 1
            self.log.error(
                "hook_timeout", hook=name, command=argv[0], timeout_s=self.timeout, output=self._tail(output)
            )
            return
        status = process.returncode
        if status == 0:
            self.sent += 1
        else:
            self.failed += 1
        (self.log.info if status == 0 else self.log.warning)(
            "hook_done",
            hook=name,
            command=argv[0],
            exit=status,
            run_s=round(time.monotonic() - started, 2),
            output=self._tail(output),
        )

    @staticmethod
    def _tail(output: bytes | None) -> str:
        text = (output or b"").decode(errors="replace").strip()
        return text[-OUTPUT_CHARS:]
