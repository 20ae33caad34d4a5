"""Browser cameras' feeds without a browser: one device a camera, the reader's end of the pipe,
and the limits that keep a device from filling memory."""

from __future__ import annotations

import threading

from vcam import browser
from vcam.browser import Feeds


def test_one_device_a_camera_until_it_is_gone() -> None:
    feeds = Feeds()
    first = feeds.claim("hall", "video/webm;codecs=h264", read_timeout=1)
    assert first is not None and first.format == "webm"
    assert feeds.claim("hall", "video/webm;codecs=h264", read_timeout=1) is None  # refused while it streams
    assert feeds.claim("yard", "video/mp4;codecs=avc1", read_timeout=1) is not None  # another camera
    feeds.release(first, "page closed")
    assert feeds.claim("hall", "video/webm;codecs=h264", read_timeout=1) is not None


def test_the_reader_takes_the_device_when_it_connects_and_reads_what_it_sent() -> None:
    feeds = Feeds()
    assert feeds.take("hall", timeout=0.05) is None  # nobody there: waiting
    taken: list[browser.Feed | None] = []
    waiter = threading.Thread(target=lambda: taken.append(feeds.take("hall", timeout=5)))
    waiter.start()
    feed = feeds.claim("hall", "video/webm;codecs=h264", read_timeout=1)
    waiter.join(5)
    assert taken == [feed] and feed is not None and not feeds.ready("hall")  # taken once
    assert feed.write(b"abc") and feed.write(b"defg")
    assert feed.read(2) == b"ab" and feed.read(10) == b"c" and feed.read(10) == b"defg"
    feeds.release(feed, "its page was closed")
    assert feed.read(10) == b"" and feed.read(10) == b""  # the end, for every later read
    assert feed.why == "its page was closed" and not feed.write(b"x")


def test_a_device_sending_nothing_ends_its_stream_after_the_read_timeout() -> None:
    feed = Feeds().claim("hall", "video/webm;codecs=h264", read_timeout=0.1)
    assert feed is not None
    assert feed.read(10) == b""
    assert feed.why is not None and "no data" in feed.why


def test_a_reader_that_falls_behind_cuts_the_device_off_instead_of_filling_memory() -> None:
    feed = Feeds().claim("hall", "video/webm;codecs=h264", read_timeout=1)
    assert feed is not None
    chunk = b"\0" * (1024 * 1024)
    sent = 0
    while feed.write(chunk):
        sent += 1
    assert sent * len(chunk) <= browser.MAX_BACKLOG_BYTES and feed.closed.is_set()
    assert feed.why is not None and "behind" in feed.why


def test_only_the_types_vcam_reads_are_taken() -> None:
    assert browser.container_of("video/webm; codecs=h264") == "webm"
    assert browser.container_of("video/mp4;codecs=avc1") == "mp4"
    assert browser.container_of("video/x-matroska;codecs=hevc") is None
