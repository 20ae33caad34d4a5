"""Motion detection and motion events. Pure: grayscale arrays in, areas, boxes and events out.

Why it is built this way (measured on ../shared/media, see README):
- Background subtraction runs on a small copy of the luma plane (DETECT_WIDTH, 320 px by
  default): cost grows with pixels, and outlines of people and cars survive the downscale.
- Each picture is divided by its own local mean brightness first (local contrast
  normalisation), so an exposure change, which scales brightness, barely changes the input.
  A plain MOG2 saw 19 % of the issue-53 clip "move"; after normalisation 0.3 %.
- A change over most of the picture at once (lights on, IR switch, clouds) is lighting, not
  motion: the background is learnt afresh and no event starts.
- Blobs smaller than a few pixels at detection size are noise or compression artefacts.
- The default background model is one running Gaussian per pixel (RunningGaussian): on the
  footage and the synthetic scenes it finds the same events as OpenCV's MOG2 at a tenth of the
  cost. MOG2 (MOTION_ALGORITHM=mog2) remembers several backgrounds per pixel, for scenes where
  something sways back and forth (branches, water) all day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import cv2
import numpy as np

from vcam.config import MotionSettings, Polygon, format_shape

WARMUP_FRAMES = 3  # analysed frames after a (re)start or re-learn before motion can count
MIN_BLOB_SHARE = 0.00035  # a blob must cover this share of the detection picture (20 px at 320x180)
NORMALISE_BOX = 17  # neighbourhood (px at detection size) for the local mean brightness
LIGHTING_SHARE = 0.6  # more of the picture than this changing at once is lighting
LIGHTING_CELL_CHANGE = 0.06  # a grid cell whose brightness moved by 6 % has changed
GRID = (8, 6)  # cells for telling a global brightness change from a large object


@dataclass(frozen=True)
class Box:
    """A moving region in full-frame pixels."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Detection:
    area: float  # percent of the watched area that moves
    boxes: tuple[Box, ...] = ()
    lighting: bool = False  # the picture changed as a whole: background re-learnt
    warming: bool = False  # the background model is still settling


class BackgroundModel(Protocol):
    def apply(self, image: np.ndarray, steps: int = 1) -> np.ndarray:
        """The next picture in, its foreground mask (255 = moving) out. ``steps``: how many
        detection intervals it stands for (keyframes only: several), so that the background
        learns in seconds, whatever the rate of analysis."""
        ...


def steps_between(dt: float, detect_fps: float) -> int:
    """How many detection intervals (1 / DETECT_FPS) lie between two analysed pictures: 1 while
    every interval is analysed (jitter of a frame or two stays 1), 5 for keyframes 1 s apart."""
    return max(1, min(MAX_STEPS, round(dt * detect_fps)))


MAX_STEPS = 50  # a gap longer than this many intervals (a stall) learns no faster than this


class Mog2:
    """OpenCV's MOG2 with its learning rate scaled by ``steps`` (its own rule is per picture)."""

    HISTORY = 500

    def __init__(self, threshold: float) -> None:
        self.model = cv2.createBackgroundSubtractorMOG2(
            history=self.HISTORY, varThreshold=threshold, detectShadows=False
        )
        self.n = 0

    def apply(self, image: np.ndarray, steps: int = 1) -> np.ndarray:
        self.n += steps
        # MOG2's own rule (1 / min(2n, history) for the n-th picture), counted in intervals
        mask: np.ndarray = self.model.apply(image, learningRate=_stepped(1.0 / min(2 * self.n, self.HISTORY), steps))
        return mask


def _stepped(rate: float, steps: int) -> float:
    """A per-interval learning rate applied once for ``steps`` intervals: 1 - (1 - rate)^steps."""
    return rate if steps == 1 else 1.0 - (1.0 - rate) ** steps


def shapes_outside(settings: MotionSettings, width: int, height: int) -> list[str]:
    """Regions and masks that reach past the picture (written for another camera or resolution),
    each described for a warning: a region wholly outside watches nothing."""
    found = []
    for name, shapes in (("MOTION_REGIONS", settings.regions), ("MOTION_MASK", settings.mask)):
        for shape in shapes:
            xs, ys = [x for x, _ in shape], [y for _, y in shape]
            if max(xs) <= width and max(ys) <= height:
                continue
            how = "wholly" if min(xs) >= width or min(ys) >= height else "partly"
            found.append(f"{name} shape {format_shape(shape)} is {how} outside the {width}x{height} picture")
    return found


class MotionDetector:
    """Frame in, moving area and boxes out. One per camera connection: call reset() on reconnect."""

    def __init__(self, settings: MotionSettings, width: int, height: int) -> None:
        self.settings = settings
        self.width, self.height = width, height
        scale = min(1.0, settings.detect_width / width)
        self.scale = scale
        self.size = (max(16, round(width * scale)), max(16, round(height * scale)))
        self.watch = self._watch_mask()
        self.watch_pixels = max(1, int(cv2.countNonZero(self.watch)))
        self.min_blob = max(4, round(MIN_BLOB_SHARE * self.size[0] * self.size[1]))
        # 16-bit labels halve the memory labelling writes (twice as fast); 8-connected blobs number
        # at most a quarter of the pixels, so they fit up to about 512x512 detection pixels
        self.label_type = cv2.CV_16U if self.size[0] * self.size[1] // 4 < 2**16 else cv2.CV_32S
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self.reset()

    def reset(self) -> None:
        """Forget the background, e.g. after a reconnect: the scene may have changed meanwhile."""
        self.model: BackgroundModel
        if self.settings.algorithm == "gauss":
            self.model = RunningGaussian(self.settings.threshold)
        else:
            self.model = Mog2(self.settings.threshold)
        self.seen = 0
        self.previous_cells: np.ndarray | None = None

    def _watch_mask(self) -> np.ndarray:
        w, h = self.size
        watch = np.zeros((h, w), np.uint8) if self.settings.regions else np.full((h, w), 255, np.uint8)
        for polygon in self.settings.regions:
            cv2.fillPoly(watch, [self._scaled(polygon)], 255)
        for polygon in self.settings.mask:
            cv2.fillPoly(watch, [self._scaled(polygon)], 0)
        return watch

    def _scaled(self, polygon: Polygon) -> np.ndarray:
        return np.array([[round(x * self.scale), round(y * self.scale)] for x, y in polygon], np.int32)

    def detect(self, gray: np.ndarray, steps: int = 1) -> Detection:
        """``steps``: detection intervals since the last analysed picture (see steps_between)."""
        small = shrink(gray, self.size)
        lighting = self._global_change(small)
        foreground = self.model.apply(_normalise(small), steps)
        self.seen += 1
        if self.seen <= WARMUP_FRAMES:
            return Detection(0.0, warming=True)
        foreground = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, self.kernel)
        if lighting or cv2.countNonZero(foreground) > LIGHTING_SHARE * foreground.size:
            self.reset()
            self.model.apply(_normalise(small))  # the new picture is the new background
            self.seen = 1
            return Detection(0.0, lighting=True)
        foreground = cv2.bitwise_and(foreground, self.watch)
        if not cv2.countNonZero(foreground):
            return Detection(0.0)  # the usual case: nothing moves, and labelling nothing costs the most
        _, _, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8, ltype=self.label_type)
        blobs = stats[1:][stats[1:, cv2.CC_STAT_AREA] >= self.min_blob]
        moving = int(blobs[:, cv2.CC_STAT_AREA].sum())
        boxes = merge_boxes(self._full_frame_boxes(blobs), gap=max(4, self.width // 20))
        return Detection(100.0 * moving / self.watch_pixels, tuple(boxes))

    def _global_change(self, small: np.ndarray) -> bool:
        """Did most of the picture brighten or darken since the last analysed frame?"""
        cells = cv2.resize(small, GRID, interpolation=cv2.INTER_AREA).astype(np.float32)
        previous, self.previous_cells = self.previous_cells, cells
        if previous is None:
            return False
        changed = np.abs(cells - previous) > LIGHTING_CELL_CHANGE * (previous + 8)
        return bool(np.count_nonzero(changed) > LIGHTING_SHARE * changed.size)

    def _full_frame_boxes(self, blobs: np.ndarray) -> list[Box]:
        """Blob rectangles (connectedComponents stats rows) scaled back to full-frame pixels."""
        s = 1 / self.scale
        boxes = []
        for left, top, width, height, _ in blobs.tolist():
            x, y = int(left * s), int(top * s)
            boxes.append(Box(x, y, min(round(width * s), self.width - x), min(round(height * s), self.height - y)))
        return boxes


class RunningGaussian:
    """One Gaussian per pixel (running mean and variance), MOG2's single-mode case in a handful of
    whole-picture OpenCV operations: about a tenth of MOG2's cost at detection size.

    Learning follows MOG2: rate 1/min(2n, HISTORY) so the first pictures set the background fast;
    variance bounded like MOG2's (4..75). The variance learns only where nothing moves, so a
    passing car does not leave a blind spot; the mean learns everywhere, faster where the picture
    stays changed (time constant ABSORB analysed frames), so a car that parks becomes background
    in about 7 s at 5 analysed frames a second (MOG2 absorbs it within about a second)."""

    HISTORY = 500
    ABSORB = 20
    VAR_INIT, VAR_MIN, VAR_MAX = 15.0, 4.0, 75.0

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.n = 0
        self.mean: np.ndarray | None = None
        self.var = self.d2 = self.limit = np.empty(0, np.float32)

    def apply(self, image: np.ndarray, steps: int = 1) -> np.ndarray:
        self.n += steps
        if self.mean is None:
            self.mean = image.astype(np.float32)
            self.var = np.full_like(self.mean, self.VAR_INIT)
            self.d2, self.limit = np.empty_like(self.mean), np.empty_like(self.mean)
            return np.zeros(image.shape, np.uint8)
        rate = _stepped(1.0 / min(2 * self.n, self.HISTORY), steps)
        # Scratch arrays are kept and written in place: between analyses the decoder evicts the
        # caches, and each fresh 230 KB array would be more cold memory to touch.
        d2, limit = self.d2, self.limit
        cv2.subtract(image, self.mean, dst=d2, dtype=cv2.CV_32F)
        cv2.multiply(d2, d2, dst=d2)
        np.multiply(self.var, self.threshold, out=limit)
        foreground = cv2.compare(d2, limit, cv2.CMP_GT)
        background = cv2.bitwise_not(foreground)
        cv2.accumulateWeighted(image, self.mean, rate, background)
        cv2.accumulateWeighted(image, self.mean, max(rate, _stepped(1.0 / self.ABSORB, steps)), foreground)
        cv2.accumulateWeighted(d2, self.var, rate, background)
        np.maximum(self.var, self.VAR_MIN, out=self.var)
        np.minimum(self.var, self.VAR_MAX, out=self.var)
        return foreground


def shrink(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downscale to ``size``: every other pixel while the picture is twice as large or more (a free
    view), then area averaging for the rest. A third of the cost of area averaging from full size."""
    while gray.shape[1] >= 2 * size[0] and gray.shape[0] >= 2 * size[1]:
        gray = gray[::2, ::2]
    if (gray.shape[1], gray.shape[0]) == size:
        return np.ascontiguousarray(gray)
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def _normalise(small: np.ndarray) -> np.ndarray:
    """Brightness relative to the neighbourhood: invariant to exposure gain, keeps edges and shapes."""
    local_mean = cv2.blur(small, (NORMALISE_BOX, NORMALISE_BOX))
    ratio = cv2.divide(small, cv2.convertScaleAbs(local_mean, beta=8), scale=128)  # / (mean + 8)
    return cv2.GaussianBlur(ratio, (5, 5), 0)


def merge_boxes(boxes: list[Box], gap: int) -> list[Box]:
    """Join boxes that overlap or lie within ``gap`` px: one outline per object, not per fragment.

    Each pass adds every box to the first kept box it touches; passes repeat until one merges
    nothing, so no two results touch (a box that grew may reach one it missed before)."""
    rects = [(b.x, b.y, b.x + b.w, b.y + b.h) for b in boxes]
    changed = True
    while changed:
        changed = False
        kept: list[tuple[int, int, int, int]] = []
        for r in rects:
            for k, o in enumerate(kept):
                if r[0] - gap <= o[2] and o[0] - gap <= r[2] and r[1] - gap <= o[3] and o[1] - gap <= r[3]:
                    kept[k] = (min(r[0], o[0]), min(r[1], o[1]), max(r[2], o[2]), max(r[3], o[3]))
                    changed = True
                    break
            else:
                kept.append(r)
        rects = kept
    return sorted((Box(x0, y0, x1 - x0, y1 - y0) for x0, y0, x1, y1 in rects), key=lambda b: (b.y, b.x))


@dataclass
class MotionEvent:
    """One event: times in stream seconds, frames as counted by the caller, wall as epoch seconds."""

    start: float
    start_frame: int
    start_wall: float
    last_motion: float
    last_motion_frame: int
    peak_area: float
    boxes: tuple[Box, ...]
    end: float | None = None
    end_frame: int | None = None
    moving_frames: int = 0

    @property
    def duration(self) -> float:
        return (self.end if self.end is not None else self.last_motion) - self.start


@dataclass(frozen=True)
class EventChange:
    kind: Literal["started", "ended"]
    event: MotionEvent


@dataclass
class EventTracker:
    """Turns per-frame detections into events: ``min_frames`` moving frames in a row start one,
    ``post_seconds`` without motion end it. Used alike by the live daemon and ``vcam scan``."""

    min_frames: int
    post_seconds: float
    active: MotionEvent | None = None
    _run: list[tuple[float, int, float, Detection]] = field(default_factory=list)

    def update(self, t: float, frame: int, wall: float, detection: Detection, moving: bool) -> EventChange | None:
        event = self.active
        if event is not None:
            if moving:
                event.last_motion, event.last_motion_frame = t, frame
                event.moving_frames += 1
                event.peak_area = max(event.peak_area, detection.area)
                event.boxes = detection.boxes
            elif t - event.last_motion >= self.post_seconds:
                return self._end(event, event.last_motion + self.post_seconds, frame)
            return None
        if not moving:
            self._run.clear()
            return None
        self._run.append((t, frame, wall, detection))
        if len(self._run) < self.min_frames:
            return None
        first_t, first_frame, first_wall, _ = self._run[0]
        self.active = MotionEvent(
            start=first_t,
            start_frame=first_frame,
            start_wall=first_wall,
            last_motion=t,
            last_motion_frame=frame,
            peak_area=max(d.area for *_, d in self._run),
            boxes=detection.boxes,
            moving_frames=len(self._run),
        )
        self._run.clear()
        return EventChange("started", self.active)

    def finish(self, t: float, frame: int) -> EventChange | None:
        """The stream ended (or dropped) at ``t``: close an open event there at the latest."""
        self._run.clear()
        if self.active is None:
            return None
        return self._end(self.active, min(t, self.active.last_motion + self.post_seconds), frame)

    def _end(self, event: MotionEvent, end: float, frame: int) -> EventChange:
        event.end, event.end_frame = end, frame
        self.active = None
        return EventChange("ended", event)


WAKE_HOLD_S = 2.0  # after a moving picture that started no event, decode everything this long


class IdlePolicy:
    """When a camera may be watched at its keyframes only (IDLE_DECODE=keyframes): no event open,
    and no moving picture in the last WAKE_HOLD_S. A moving keyframe wakes it at once, so the
    pictures that follow are all there to start (and then follow) the event."""

    def __init__(self, enabled: bool, hold_s: float = WAKE_HOLD_S) -> None:
        self.enabled = enabled
        self.hold_s = hold_s
        self._moving_at: float | None = None

    def idle(self, t: float, moving: bool, event_open: bool) -> bool:
        if moving:
            self._moving_at = t
        if not self.enabled or event_open:
            return False
        return self._moving_at is None or t - self._moving_at >= self.hold_s

    def reset(self) -> None:
        self._moving_at = None
