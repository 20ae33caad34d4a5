"""What a camera connection hands out: stream facts and decoded frames, whatever the source."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import av
import cv2
import numpy as np

# Pixel formats whose plane 0 is 8-bit luma: grayscale for free, no conversion.
_LUMA_PLANE_FORMATS = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}
)


@dataclass(frozen=True)
class StreamInfo:
    codec: str
    width: int
    height: int
    fps: float | None


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture: ``time`` is stream seconds since connect, ``wall`` the epoch time it arrived."""

    time: float
    wall: float
    width: int
    height: int
    video: av.VideoFrame | None = None
    image: np.ndarray | None = None  # BGR, for sources that make pictures themselves (demo)
    index: int = 0  # frame number since the connection opened
    connection: int = 0  # which connection of the pipeline's it came from (set by the pipeline)

    def gray(self) -> np.ndarray:
        """8-bit luma; a view into the decoded frame where the pixel format allows (no copy)."""
        if self.video is None:
            assert self.image is not None
            return cv2.cvtColor(self.image, cv2.COLOR_BGR2GRAY)
        if self.video.format.name in _LUMA_PLANE_FORMATS:
            plane = self.video.planes[0]
            rows: np.ndarray = np.frombuffer(memoryview(plane), np.uint8).reshape(self.height, plane.line_size)
            return rows[:, : self.width]
        return self.video.to_ndarray(format="gray")

    def bgr(self) -> np.ndarray:
        if self.video is None:
            assert self.image is not None
            return self.image
        return self.video.to_ndarray(format="bgr24")


class Connection(Protocol):
    info: StreamInfo
    lagging: bool  # decoding keyframes only to catch up with the camera

    def frames(self) -> Iterator[Frame]:
        """Yields frames until the stream fails (SourceError) or the caller stops iterating."""
        ...

    def close(self) -> None: ...
