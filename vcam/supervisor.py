"""Keeps every camera pipeline alive: restarts one whose threads died or stopped beating."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from vcam.pipeline import CameraStats, Pipeline

RECORDER_HANDOVER_S = 5.0


def wedge_limit(stall_timeout: float) -> float:
    """A reader may block for an open timeout plus two read timeouts; past this it is wedged."""
    return 2 * stall_timeout + 5


class Supervisor:
    def __init__(self, factories: list[Callable[[], Pipeline]], log: Any) -> None:
        self.factories = factories
        self.log = log
        self.pipelines: list[Pipeline] = []
        self.restarts = 0

    def start(self) -> None:
        self.pipelines = [factory() for factory in self.factories]
        for pipeline in self.pipelines:
            pipeline.start()

    def tick(self) -> None:
        """Called about once a second from the main loop."""
        for index, pipeline in enumerate(self.pipelines):
            problem = self._problem(pipeline, pipeline.stats())
            if problem is None:
                continue
            self.log.error("pipeline_restart", camera=pipeline.camera.name, problem=problem)
            pipeline.request_stop()  # a wedged reader or worker is a daemon thread: abandoned, not waited for
            # but its recorder gets a moment to finish its clip, so the new one's start-up recovery
            # does not take a clip that is still being written
            pipeline.recorder.join(time.monotonic() + RECORDER_HANDOVER_S)
            fresh = self.factories[index]()
            fresh.start()
            self.pipelines[index] = fresh
            self.restarts += 1

    def _problem(self, pipeline: Pipeline, health: CameraStats) -> str | None:
        dead = pipeline.dead_threads()
        if dead:
            return "thread died: " + ", ".join(dead)
        limit = wedge_limit(pipeline.camera.stall_timeout)
        if health.reader_beat_age > limit:
            return f"reader made no progress for {health.reader_beat_age:.0f} s"
        if health.worker_beat_age > limit:
            return f"worker made no progress for {health.worker_beat_age:.0f} s"
        return None

    def record(self, camera: str) -> bool:
        """A clip on demand for this camera; False if there is no such camera (or it is disabled)."""
        for pipeline in self.pipelines:
            if pipeline.camera.name == camera:
                pipeline.record_now()
                return True
        return False

    def summary(self) -> tuple[bool, str]:
        """(live, one line for systemd's STATUS= and the health file).

        Live means every pipeline's threads make progress (one that does not is restarted by
        tick()). A camera that is down is said in the line, never a reason to call the daemon
        unhealthy: the watchdog would restart the whole process, and so cut every other camera's
        clips, every few minutes for as long as one camera is unplugged."""
        stats = [p.stats() for p in self.pipelines]
        live = all(self._problem(p, s) is None for p, s in zip(self.pipelines, stats, strict=True))
        streaming = sum(s.connected for s in stats)
        parts = [f"{streaming}/{len(stats)} cameras streaming"]
        for s in stats:
            state = "streaming" if s.connected else f"{s.state} ({s.last_error or 'connecting'})"
            parts.append(f"{s.camera} {state}, last clip {s.last_clip or 'none'}")
        return live, "; ".join(parts)

    def stop(self, timeout: float) -> bool:
        """Stop every pipeline within ``timeout`` seconds; True if all threads ended."""
        deadline = time.monotonic() + timeout
        for pipeline in self.pipelines:
            pipeline.request_stop()
        finished = [pipeline.join(deadline) for pipeline in self.pipelines]
        return all(finished)
