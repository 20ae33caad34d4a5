"""The event bus: publishing never waits, a full subscriber drops and counts; consumers outlive
their handlers' errors and finish what is queued at stop; the event log as a subscriber."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from conftest import wait_until
from test_pipeline import RecordingLog

from vcam import bus
from vcam.eventlog import EventLog, EventLogWriter


def started(camera: str = "yard", at: float = 1000.0) -> bus.MotionStarted:
    return bus.MotionStarted(camera, at, 2.5, ((1, 2, 3, 4),), None)


def test_a_full_subscriber_drops_and_counts_and_the_others_get_everything() -> None:
    log = RecordingLog()
    events = bus.Bus(log)
    fast = events.subscribe("fast", size=100)
    slow = events.subscribe("slow", size=3)
    for i in range(10):
        events.publish(started(at=float(i)))
    assert fast.queue.qsize() == 10 and (slow.queue.qsize(), slow.dropped) == (3, 7)
    assert [e["subscriber"] for e in log.named("subscriber_behind")] == ["slow"]  # once per spell
    slow.get(0)
    events.publish(started())
    assert log.named("subscriber_caught_up") == [{"subscriber": "slow", "dropped": 7}]


def test_a_consumer_outlives_its_handlers_errors_and_finishes_the_queue_at_stop() -> None:
    log = RecordingLog()
    events = bus.Bus(log)
    handled: list[float] = []
    gate = threading.Event()

    def handle(event: bus.Event) -> None:
        assert isinstance(event, bus.MotionStarted)
        gate.wait(5)
        if event.start == 1:
            raise ValueError("one bad event")
        handled.append(event.start)

    consumer = bus.Consumer(events.subscribe("test"), handle, log)
    consumer.start()
    for i in range(5):
        events.publish(started(at=float(i)))
    consumer.stop()  # asked to stop with events still queued
    gate.set()
    assert consumer.join(time.monotonic() + 5)
    assert handled == [0.0, 2.0, 3.0, 4.0]
    (error,) = log.named("subscriber_error")
    assert error["error"] == "ValueError: one bad event"


def test_the_event_log_writer_keeps_events_and_clips(tmp_path: Path) -> None:
    log = RecordingLog()
    db = EventLog(tmp_path / "events.sqlite3")
    writer = EventLogWriter(db, log)
    snapshot = tmp_path / "yard" / "events" / "e.jpg"
    clip = tmp_path / "yard" / "clip.mp4"
    writer.handle(bus.MotionStarted("yard", 1000.0, 2.5, (), snapshot))
    writer.handle(bus.MotionStarted("gate", 1000.0, 1.0, (), None))  # the same moment, another camera
    writer.handle(bus.MotionProgress("yard", 1000.0, 1004.0, 7.5))
    (open_event,) = [e for e in db.events() if e.camera == "yard"]
    assert open_event.end is None
    writer.handle(bus.MotionEnded("yard", 1000.0, 1006.0, 9.0))
    writer.handle(bus.ClipSaved("yard", clip, 997.0, 30.0, 1234, "passthrough", False))
    (event,) = [e for e in db.events() if e.camera == "yard"]
    assert (event.start, event.end, event.peak_area, event.snapshot) == (1000.0, 1006.0, 9.0, str(snapshot))
    (row,) = db.clips()
    assert (row.path, row.size, row.event_id) == (str(clip), 1234, event.id)
    writer.handle(bus.FilesDeleted((clip, snapshot), ("age", "age")))
    assert db.clips() == [] and [e.snapshot for e in db.events() if e.camera == "yard"] == [None]
    db.close()
    for _ in range(3):  # a database gone bad: said once, never raised
        writer.handle(bus.ClipSaved("yard", clip, 997.0, 30.0, 1234, "passthrough", False))
    assert len(log.named("eventlog_failed")) == 1


def test_publishing_to_a_subscriber_that_never_reads_never_waits() -> None:
    events = bus.Bus(RecordingLog())
    stuck = events.subscribe("stuck", size=1)
    done = threading.Event()

    def publish_many() -> None:
        for i in range(10_000):
            events.publish(started(at=float(i)))
        done.set()

    threading.Thread(target=publish_many, daemon=True).start()
    assert wait_until(done.is_set, 10)
    assert stuck.dropped == 9_999


def test_a_consumer_with_nothing_to_do_stops_at_once() -> None:
    consumer = bus.Consumer(bus.Bus(RecordingLog()).subscribe("idle"), lambda event: None, RecordingLog())
    consumer.start()
    time.sleep(0.1)  # waiting in its poll
    asked = time.monotonic()
    consumer.stop()
    assert consumer.join(time.monotonic() + 5)
    assert time.monotonic() - asked < 0.2  # woken, not waiting out the 0.5 s poll
