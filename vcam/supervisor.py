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
            problem = self._problem(pipeline)
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

    def _problem(self, pipeline: Pipeline) -> str | None:
        dead = pipeline.dead_threads()
        if dead:
            return "thread died: " + ", ".join(dead)
        health = pipeline.stats()
        limit = wedge_limit(pipeline.camera.stall_timeout)
        if health.reader_beat_age > limit:
            return f"reader made no progress for {health.reader_beat_age:.0f} s"
        if health.worker_beat_age > limit:
            return f"worker made no progress for {health.worker_beat_age:.0f} s"
        return None

    def stats(self) -> list[CameraStats]:
        return [p.stats() for p in self.pipelines]

    def summary(self, frame_timeout: float) -> tuple[bool, str]:
        """(healthy, one line for systemd's STATUS= and the health file). Healthy: every pipeline
        beats and has had a frame within ``frame_timeout`` (or started less than that ago)."""
        healthy, parts = True, []
        for pipeline in self.pipelines:
            h = pipeline.stats()
            quiet_for = h.last_frame_age if h.last_frame_age is not None else h.running_for
            good = self._problem(pipeline) is None and quiet_for <= frame_timeout
            healthy = healthy and good
            state = "streaming" if h.connected else f"reconnecting ({h.last_error or 'connecting'})"
            parts.append(f"{h.camera} {state}, last clip {h.last_clip or 'none'}")
        return healthy, "; ".join(parts)

    def stop(self, timeout: float) -> bool:
        """Stop every pipeline within ``timeout`` seconds; True if all threads ended."""
        deadline = time.monotonic() + timeout
        for pipeline in self.pipelines:
            pipeline.request_stop()
        finished = [pipeline.join(deadline) for pipeline in self.pipelines]
        return all(finished)
