"""Why a camera connection failed: the reasons the log names, and the error that carries them."""

from __future__ import annotations

from vcam import camera_url

# Reasons a camera can fail. For the TCP-level ones a cheap connect() tells when it is back.
REFUSED = "refused"
UNREACHABLE = "unreachable"
NO_ANSWER = "no_answer"
UNAUTHORIZED = "unauthorized"
NOT_FOUND = "not_found"
BAD_STREAM = "bad_stream"
STALLED = "stalled"
TRANSPORT_REFUSED = "transport_refused"  # the camera will not stream over the RTSP transport asked for
ENDED = "ended"
WAITING = "waiting"  # a browser camera whose device has not connected (yet, or again)
TCP_LEVEL = frozenset({REFUSED, UNREACHABLE})


class SourceError(Exception):
    """A camera problem the pipeline handles by reconnecting; ``detail`` never holds a password."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = camera_url.mask(detail)
