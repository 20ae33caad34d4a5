"""One stream of a camera, kept connected by its own thread: connect, read until it fails, say why,
back off, connect again. It never waits on anyone downstream: packets go to the recorder's bounded
queue and the newest picture to the worker's one-slot hand-off, both of which drop rather than block.

A camera has one reader, or two with a sub-stream for detection (DETECT_URL): then the main
stream's reader only records (it decodes nothing) and the sub-stream's only detects.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from vcam import backoff, bus, camera_url
from vcam.config import CameraConfig
from vcam.decoding import GopMeter
from vcam.errors import ENDED, TCP_LEVEL, WAITING, SourceError
from vcam.frames import Chunk, Connection, Frame, StreamInfo
from vcam.recorder import Closed, Opened, Recorder
from vcam.source import back

PROBE_INTERVAL_S = 0.5  # while a camera's port is closed, how often to check whether it is back
RATE_WINDOW_S = 5.0  # frames a second are counted over this long


class Rate:
    """Events a second over the last window; updated by one thread, read by any."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.value = 0.0
        self._since = clock()
        self._count = 0

    def add(self, count: int = 1) -> None:
        self._count += count
        now = self.clock()
        if now - self._since >= RATE_WINDOW_S:
            self.value = self._count / (now - self._since)
            self._since, self._count = now, 0

    def current(self) -> float:
        """The rate, or 0 once nothing has come for a whole window."""
        return self.value if self.clock() - self._since < 2 * RATE_WINDOW_S else 0.0


class StreamReader:
    """Reads one stream (``camera.url``) for as long as it is not asked to stop. What it sends on:
    every packet to ``recorder`` (if given), the newest picture to ``on_frame`` (if given). Its
    fields are written by its thread only and read by anyone (the stats snapshot)."""

    def __init__(
        self,
        camera: CameraConfig,
        stream: str,  # "main", or "detect" for the sub-stream
        log: Any,
        stopping: threading.Event,
        *,
        connector: Callable[[CameraConfig], Connection],
        clock: Callable[[], float],
        publish: Callable[[bus.Event], None],
        recorder: Recorder | None = None,
        on_frame: Callable[[Frame], None] | None = None,
    ) -> None:
        self.camera = camera
        self.stream = stream
        self.log = log
        self.stopping = stopping
        self.connector = connector
        self.clock = clock
        self.publish = publish
        self.recorder = recorder
        self.on_frame = on_frame
        self.decodes = on_frame is not None  # a stream only recorded is never decoded here
        self.beat = clock()
        self.connected = False
        self.ever_connected = False
        self.frames = 0  # pictures decoded
        self.packets = 0
        self.reconnects = 0
        self.last_error: str | None = None
        self.last_frame_at: float | None = None  # of a picture, or (a stream not decoded) of a packet
        self.lagging_s = 0.0  # time spent decoding keyframes only to catch up
        self.idle = False  # set by the worker: nothing moves, keyframes will do (IDLE_DECODE)
        self._lagging, self._lagging_since = False, 0.0
        self._idle_told: str | None = None  # the last idle decoding said, so a reconnect does not repeat it
        self.fps = Rate(clock)
        self._connection = 0  # counts connections; frames carry it so the worker sees a reconnect
        self._streamed = False  # a picture (or, not decoding, a packet) came on this connection

    def run(self) -> None:
        failures = 0
        last_reason: str | None = None
        down_since: float | None = None
        self.log.info("camera_connecting", url=camera_url.mask(self.camera.url))
        while not self.stopping.is_set():
            self.beat = self.clock()
            started = self.clock()
            try:
                connection = self.connector(self.camera)
                connection.decoding = self.decodes
            except SourceError as exc:
                failure = exc
            else:
                self._connection += 1
                lost = self._stream(connection, started, failures, down_since)
                if lost is None:
                    break  # asked to stop
                if self._streamed:  # it streamed, then dropped: try again soon
                    failures, last_reason, down_since = 1, lost.reason, self.clock()
                    self.reconnects += 1
                    self.last_error = f"{lost.reason}: {lost.detail}"
                    self.log.warning(
                        "camera_lost", reason=lost.reason, error=lost.detail, retry_in=self.camera.reconnect_delay
                    )
                    self._tell_lost(lost)
                    self._wait_before_retry(self.camera.reconnect_delay, probe=False)
                    continue
                failure = lost  # connected, but not one picture came: a failed attempt like any other
            failures += 1
            down_since = down_since if down_since is not None else started
            delay = backoff.delay(
                failures, self.camera.reconnect_delay, self.camera.reconnect_max_delay, random.random()
            )
            if failure.reason != last_reason or backoff.worth_logging(failures):
                self.log.warning(
                    "camera_unavailable",
                    reason=failure.reason,
                    error=failure.detail,
                    failures=failures,
                    retry_in=round(delay, 1),
                )
            if failures == 1:  # down from the start: said once for the spell, as a lost camera is
                self._tell_lost(failure)
            last_reason = failure.reason
            self.last_error = f"{failure.reason}: {failure.detail}"
            self._wait_before_retry(delay, probe=failure.reason in TCP_LEVEL or failure.reason == WAITING)
        self.log.info(
            "reader_stopped",
            frames=self.frames,
            packets=self.packets,
            keyframes_only_s=round(self.lagging_s, 1),
            reconnects=self.reconnects,
        )

    def _tell_lost(self, why: SourceError) -> None:
        self.publish(bus.CameraLost(self.camera.name, time.time(), why.reason, why.detail, self.stream))

    def _stream(
        self, connection: Connection, started: float, failures: int, down_since: float | None
    ) -> SourceError | None:
        """Read until the connection fails (returns why) or we are asked to stop (None)."""
        self._streamed = False
        self._lagging = False
        gop_told = not self.decodes or connection.keyframes is None
        number = self._connection
        described = connection.info
        self._feed(Opened(number, described, connection.template, connection.audio))
        try:
            for chunk in connection.chunks():
                now = self.clock()
                self.beat = now
                if connection.info != described:  # reconfigured mid-stream: as if it had reconnected
                    number = self._changed(number, described, connection)
                    described = connection.info
                self._feed(chunk)
                self.packets += not chunk.audio
                # at every packet: a worker that saw motion wakes the decoder now, not at the next keyframe
                connection.idle = self.idle
                # alive: a picture came, or (a stream only recorded) a picture's packet
                alive = bool(chunk.frames) if self.decodes else not chunk.audio
                if self.stopping.is_set():
                    return None  # at every packet: while idle, pictures come only at keyframes
                if not alive:
                    continue
                self.last_frame_at = now
                self.frames += len(chunk.frames)
                self.fps.add(len(chunk.frames) if self.decodes else 1)
                if not self._streamed:
                    self._streamed = self.connected = self.ever_connected = True
                    self._log_connected(connection, now - started, failures, down_since)
                if connection.lagging != self._lagging:
                    self._note_lagging(connection.lagging, now)
                if not gop_told and connection.keyframes is not None and connection.keyframes.known:
                    gop_told = True
                    self._tell_idle_decoding(connection.keyframes)
                if self.on_frame is not None and chunk.frames:
                    self.on_frame(dataclasses.replace(chunk.frames[-1], connection=number))
            return SourceError(ENDED, "the stream ended")
        except SourceError as exc:
            return exc
        except Exception as exc:  # a bug or an unforeseen library error: log it, reconnect, keep going
            self.log.exception("reader_error", error=camera_url.mask(f"{type(exc).__name__}: {exc}"))
            return SourceError("error", f"{type(exc).__name__}")
        finally:
            self.connected = False
            self._feed(Closed(number))
            connection.close()

    def _note_lagging(self, lagging: bool, now: float) -> None:
        self._lagging = lagging
        if lagging:
            self._lagging_since = now
            self.log.warning("decoding_behind", keyframes_only=True)
        else:
            self.lagging_s += now - self._lagging_since
            self.log.info("decoding_caught_up", keyframes_only=False)

    def _tell_idle_decoding(self, keyframes: GopMeter) -> None:
        """Once a connection: whether the camera is watched at its keyframes while nothing moves."""
        longest = round(keyframes.longest or 0.0, 2)
        mode = "keyframes" if self.camera.motion.idle_decode == "keyframes" and keyframes.short_enough else "all"
        if mode == self._idle_told:
            return
        self._idle_told = mode
        if self.camera.motion.idle_decode != "keyframes":
            self.log.info("idle_decoding", mode="all", keyframe_every_s=longest, why="IDLE_DECODE=all")
        elif keyframes.short_enough:
            self.log.info("idle_decoding", mode="keyframes", keyframe_every_s=longest)
        else:
            self.log.warning(
                "idle_decoding",
                mode="all",
                keyframe_every_s=longest,
                why=f"keyframes further apart than IDLE_MAX_GOP={self.camera.motion.idle_max_gop:g} s: "
                "every picture is decoded (set the camera's keyframe interval, I-frame interval or GOP, to 1-2 s)",
            )

    def _feed(self, item: Chunk | Opened | Closed) -> None:
        if self.recorder is not None:
            self.recorder.feed(item)

    def _changed(self, number: int, before: StreamInfo, connection: Connection) -> int:
        """The camera changed its picture without a reconnect: the clip so far is closed (no clip
        mixes two picture sizes), and what follows counts as a new connection, for which the
        detector learns the scene afresh. Returns the new connection number."""
        info = connection.info
        self.log.warning(
            "camera_changed", before=f"{before.width}x{before.height}", after=f"{info.width}x{info.height}"
        )
        self._feed(Closed(number))
        self._connection += 1
        self._feed(Opened(self._connection, info, connection.template, connection.audio))
        return self._connection

    def _log_connected(self, connection: Connection, took: float, failures: int, down_since: float | None) -> None:
        info = connection.info
        extra = {} if down_since is None else {"failures": failures, "downtime_s": round(self.clock() - down_since, 1)}
        self.log.info(
            "camera_connected",
            codec=info.codec,
            width=info.width,
            height=info.height,
            fps=info.fps,
            **({"transport": info.transport} if info.transport else {}),
            first_frame_s=round(took, 2),
            **extra,
        )
        self.publish(
            bus.CameraConnected(
                self.camera.name,
                time.time(),
                info.codec,
                info.width,
                info.height,
                info.fps,
                info.transport,
                info.audio,
                self.stream,
            )
        )

    def _wait_before_retry(self, delay: float, *, probe: bool) -> None:
        """Sleep ``delay`` (waking for stop); if the port was closed (the device away), retry as soon
        as it opens (it connects)."""
        deadline = self.clock() + delay
        while not self.stopping.is_set():
            self.beat = self.clock()
            left = deadline - self.beat
            if left <= 0:
                return
            if self.stopping.wait(min(left, PROBE_INTERVAL_S)):
                return
            if probe and back(self.camera):
                return
