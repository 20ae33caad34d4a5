"""Settings: parsed from a plain mapping (environment + .env), every error collected and named.

Pure, and a leaf: it imports nothing of vcam's that does I/O or loads OpenCV or PyAV, so
`vcam health` and `vcam check` start fast. Checks that need the filesystem live in app.py.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from vcam import camera_url
from vcam.retention import Policy

T = TypeVar("T")

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "console", "json", "journal")
TRANSPORTS = ("auto", "tcp", "udp")  # auto: TCP, or UDP when the camera refuses TCP
GB = 1_000_000_000
_CAMERA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


# --- what the pure stages are configured with (motion.py and recorder.py use these) ----------

Point = tuple[int, int]
Polygon = tuple[Point, ...]

ALGORITHMS = ("gauss", "mog2")


@dataclass(frozen=True)
class MotionSettings:
    algorithm: str = "gauss"
    threshold: float = 16.0  # how far (squared distance) a pixel must be from the background model to count
    detect_width: int = 320
    detect_fps: float = 5.0
    min_area: float = 0.5  # percent of the watched area
    min_frames: int = 2  # consecutive moving analysed frames before an event starts
    post_seconds: float = 2.0  # an event ends this long after the last moving frame
    regions: tuple[Polygon, ...] = ()  # watch only these (full-frame pixels); empty = everything
    mask: tuple[Polygon, ...] = ()  # never watch these


def rectangle(x: int, y: int, w: int, h: int) -> Polygon:
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))


def format_shape(shape: Polygon) -> str:
    return ",".join(f"{x},{y}" for x, y in shape)


ANNOTATED = "annotated"
PASSTHROUGH = "passthrough"
RECORD_MODES = (ANNOTATED, PASSTHROUGH)
SWITCH = ("on", "off")


@dataclass(frozen=True)
class RecordSettings:
    mode: str = ANNOTATED
    clip_seconds: float = 30.0
    pre_seconds: float = 3.0
    audio: bool = True  # keep the camera's sound (AAC as it is, other codecs turned into AAC)


@dataclass(frozen=True)
class CameraConfig:
    """What one pipeline needs; several of these will live in one Config when multi-camera lands."""

    name: str
    url: str
    transport: str
    reconnect_delay: float
    reconnect_max_delay: float
    stall_timeout: float
    snapshot_interval: float
    motion: MotionSettings
    record: RecordSettings


@dataclass(frozen=True)
class Config:
    camera: CameraConfig
    video_dir: Path
    temp_dir: Path
    events_db: Path
    retention: Policy
    health_timeout: float
    log_level: str
    log_format: str

    def describe(self) -> list[tuple[str, str]]:
        """Settings as (NAME, shown value) for ``vcam check``, passwords masked."""
        cam = self.camera
        return [
            ("RTSP_URL", camera_url.mask(cam.url)),
            ("CAMERA_NAME", cam.name),
            ("VIDEO_DIR", str(self.video_dir)),
            ("TEMP_DIR", str(self.temp_dir)),
            ("SNAPSHOT_INTERVAL", _num(cam.snapshot_interval)),
            ("RTSP_TRANSPORT", cam.transport),
            ("RECONNECT_DELAY", _num(cam.reconnect_delay)),
            ("RECONNECT_MAX_DELAY", _num(cam.reconnect_max_delay)),
            ("STALL_TIMEOUT", _num(cam.stall_timeout)),
            ("MOTION_ALGORITHM", cam.motion.algorithm),
            ("MOTION_THRESHOLD", _num(cam.motion.threshold)),
            ("MOTION_MIN_AREA", _num(cam.motion.min_area)),
            ("MOTION_MIN_FRAMES", str(cam.motion.min_frames)),
            ("MOTION_POST_SECONDS", _num(cam.motion.post_seconds)),
            ("MOTION_REGIONS", format_shapes(cam.motion.regions)),
            ("MOTION_MASK", format_shapes(cam.motion.mask)),
            ("DETECT_WIDTH", str(cam.motion.detect_width)),
            ("DETECT_FPS", _num(cam.motion.detect_fps)),
            ("RECORD_MODE", cam.record.mode),
            ("CLIP_SECONDS", _num(cam.record.clip_seconds)),
            ("PRE_SECONDS", _num(cam.record.pre_seconds)),
            ("RECORD_AUDIO", "on" if cam.record.audio else "off"),
            ("EVENTS_DB", str(self.events_db)),
            ("RETENTION_DAYS", _num(self.retention.retention_days)),
            ("SNAPSHOT_RETENTION_DAYS", _num(self.retention.snapshot_retention_days)),
            ("MAX_STORAGE_GB", _num(self.retention.max_storage_bytes / GB)),
            ("MIN_FREE_GB", _num(self.retention.min_free_bytes / GB)),
            ("HEALTH_TIMEOUT", _num(self.health_timeout)),
            ("LOG_LEVEL", self.log_level),
            ("LOG_FORMAT", self.log_format),
        ]


# The one place defaults live; .env_example documents the same values.
DEFAULTS: dict[str, str] = {
    "VIDEO_DIR": "video",
    "TEMP_DIR": "",
    "CAMERA_NAME": "camera",
    "SNAPSHOT_INTERVAL": "60",
    "RTSP_TRANSPORT": "auto",
    "RECONNECT_DELAY": "5",
    "RECONNECT_MAX_DELAY": "60",
    "STALL_TIMEOUT": "10",
    "MOTION_ALGORITHM": "gauss",
    "MOTION_THRESHOLD": "16",
    "MOTION_MIN_AREA": "0.5",
    "MOTION_MIN_FRAMES": "2",
    "MOTION_POST_SECONDS": "2",
    "MOTION_REGIONS": "",
    "MOTION_MASK": "",
    "DETECT_WIDTH": "320",
    "DETECT_FPS": "5",
    "RECORD_MODE": "annotated",
    "CLIP_SECONDS": "30",
    "PRE_SECONDS": "3",
    "RECORD_AUDIO": "on",
    "EVENTS_DB": "",
    "RETENTION_DAYS": "30",
    "SNAPSHOT_RETENTION_DAYS": "7",
    "MAX_STORAGE_GB": "0",
    "MIN_FREE_GB": "1",
    "HEALTH_TIMEOUT": "300",
    "LOG_LEVEL": "info",
    "LOG_FORMAT": "auto",
}


PATH_SETTINGS = ("VIDEO_DIR", "TEMP_DIR", "EVENTS_DB")
SHOWN_VALUE_CHARS = 80  # a value echoed in an error is cut to this


@dataclass(frozen=True)
class Problem:
    """One bad setting: ``setting`` names it, ``text`` says ``NAME='value': expected …``."""

    setting: str
    text: str


class ConfigError(Exception):
    """All problems found in one pass, each as ``NAME='value': expected …``."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.text for p in problems))
        self.problems = [p.text for p in problems]
        self.settings = frozenset(p.setting for p in problems)


def known_settings() -> frozenset[str]:
    return frozenset({*DEFAULTS, "RTSP_URL"})


def unknown_settings(names: Iterable[str]) -> list[tuple[str, str | None]]:
    """Names that are no setting of ours (a typo in .env), each with the closest known one."""
    known = known_settings()
    return [
        (name, next(iter(difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.6)), None))
        for name in names
        if name not in known
    ]


def shown(value: str) -> str:
    """A value as an error may echo it: passwords masked, at most SHOWN_VALUE_CHARS characters."""
    text = camera_url.mask(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 1] + "…"


def _num(value: float) -> str:
    return f"{value:g}"


class _Reader:
    """Reads settings from the mapping and collects problems instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[Problem] = []

    def raw(self, name: str) -> str:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return DEFAULTS.get(name, "")
        return value.strip()

    def fail(self, name: str, value: str, expected: str) -> None:
        self.problems.append(Problem(name, f"{name}={shown(value)!r}: expected {expected}"))

    def parse(self, name: str, convert: Callable[[str], T], expected: str, fallback: T) -> T:
        value = self.raw(name)
        try:
            return convert(value)
        except ValueError:
            self.fail(name, value, expected)
            return fallback

    def seconds(self, name: str, *, allow_zero: bool = False, unit: str = "seconds") -> float:
        def convert(text: str) -> float:
            number = float(text)
            if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
                raise ValueError(text)
            return number

        expected = f"a number of {unit} >= 0" if allow_zero else f"a number of {unit} > 0"
        return self.parse(name, convert, expected, 1.0)

    def number(self, name: str, low: float, high: float) -> float:
        def convert(text: str) -> float:
            number = float(text)
            if not (math.isfinite(number) and low < number <= high):
                raise ValueError(text)
            return number

        return self.parse(name, convert, f"a number above {_num(low)} and at most {_num(high)}", high)

    def integer(self, name: str, low: int, high: int) -> int:
        def convert(text: str) -> int:
            number = int(text)
            if not low <= number <= high:
                raise ValueError(text)
            return number

        return self.parse(name, convert, f"a whole number from {low} to {high}", low)

    def shapes(self, name: str) -> tuple[Polygon, ...]:
        return self.parse(name, parse_shapes, SHAPES_EXPECTED, ())

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        def convert(text: str) -> str:
            if text.lower() not in choices:
                raise ValueError(text)
            return text.lower()

        return self.parse(name, convert, "one of " + "|".join(choices), choices[0])


SHAPES_EXPECTED = "rectangles 'x,y,w,h' or polygons 'x1,y1,x2,y2,x3,y3,…' in pixels, separated by ';'"


def parse_shapes(text: str) -> tuple[Polygon, ...]:
    """``x,y,w,h`` is a rectangle; six or more numbers are a polygon's corners; ``;`` separates shapes."""
    shapes: list[Polygon] = []
    for part in text.split(";"):
        if not part.strip():
            continue
        numbers = [int(v) for v in part.replace(" ", "").split(",")]
        if any(n < 0 for n in numbers):
            raise ValueError(part)
        if len(numbers) == 4:
            x, y, w, h = numbers
            if w <= 0 or h <= 0:
                raise ValueError(part)
            shapes.append(rectangle(x, y, w, h))
        elif len(numbers) >= 6 and len(numbers) % 2 == 0:
            shapes.append(tuple(zip(numbers[::2], numbers[1::2], strict=True)))
        else:
            raise ValueError(part)
    return tuple(shapes)


def format_shapes(shapes: tuple[Polygon, ...]) -> str:
    return "; ".join(format_shape(shape) for shape in shapes)


def parse_motion(env: Mapping[str, str]) -> MotionSettings:
    """Just the motion settings (``vcam scan`` needs no camera); raises ConfigError."""
    r = _Reader(env)
    motion = _motion(r)
    if r.problems:
        raise ConfigError(r.problems)
    return motion


def _motion(r: _Reader) -> MotionSettings:
    return MotionSettings(
        algorithm=r.choice("MOTION_ALGORITHM", ALGORITHMS),
        threshold=r.number("MOTION_THRESHOLD", 0, 1000),
        min_area=r.number("MOTION_MIN_AREA", 0, 100),
        min_frames=r.integer("MOTION_MIN_FRAMES", 1, 1000),
        post_seconds=r.seconds("MOTION_POST_SECONDS", allow_zero=True),
        regions=r.shapes("MOTION_REGIONS"),
        mask=r.shapes("MOTION_MASK"),
        detect_width=r.integer("DETECT_WIDTH", 64, 3840),
        detect_fps=r.number("DETECT_FPS", 0, 120),
    )


def _record(r: _Reader) -> RecordSettings:
    clip_seconds = r.number("CLIP_SECONDS", 1, 3600)
    pre_seconds = r.seconds("PRE_SECONDS", allow_zero=True)
    if pre_seconds >= clip_seconds:
        r.fail("PRE_SECONDS", r.raw("PRE_SECONDS"), f"less than CLIP_SECONDS ({_num(clip_seconds)})")
    mode = r.choice("RECORD_MODE", RECORD_MODES)
    return RecordSettings(mode, clip_seconds, pre_seconds, audio=r.choice("RECORD_AUDIO", SWITCH) == "on")


def _camera_url(reader: _Reader) -> str:
    url = reader.raw("RTSP_URL")
    if not url:
        reader.problems.append(
            Problem(
                "RTSP_URL",
                "RTSP_URL is not set: expected rtsp://user:pass@host/path, http(s):// (MJPEG), a video file, or 'demo'",
            )
        )
        return camera_url.DEMO
    scheme = camera_url.scheme_of(url)
    if scheme in camera_url.NETWORK_SCHEMES:
        encoding = camera_url.ffmpeg_authority_problem(url)
        if encoding is not None:
            reader.fail("RTSP_URL", url, encoding)
        elif camera_url.endpoint(url) is None:
            reader.fail("RTSP_URL", url, "a URL with a host, like rtsp://host:554/path")
    elif scheme not in (camera_url.DEMO, "file"):
        reader.fail("RTSP_URL", url, "rtsp://, rtsps://, http://, https://, a video file path, or 'demo'")
    return url


def parse(env: Mapping[str, str], needed: Iterable[str] | None = None) -> Config:
    """Build a Config from the environment mapping, or raise ConfigError naming every bad setting.

    With ``needed``, only problems with those settings count: a command that reads the event log
    runs whatever is wrong with the camera's settings (bad ones keep their defaults)."""
    config, problems = read(env)
    if needed is not None:
        wanted = set(needed)
        problems = [p for p in problems if p.setting in wanted]
    if problems:
        raise ConfigError(problems)
    return config


def read(env: Mapping[str, str]) -> tuple[Config, list[Problem]]:
    """The Config (bad settings replaced by fallbacks) and every problem found."""
    r = _Reader(env)
    url = _camera_url(r)
    name = r.raw("CAMERA_NAME")
    if not _CAMERA_NAME.match(name):
        r.fail("CAMERA_NAME", name, "letters, digits, '-' or '_' (up to 64; used in file names)")
    reconnect_delay = r.seconds("RECONNECT_DELAY")
    reconnect_max_delay = r.seconds("RECONNECT_MAX_DELAY")
    if reconnect_max_delay < reconnect_delay:
        r.fail(
            "RECONNECT_MAX_DELAY", r.raw("RECONNECT_MAX_DELAY"), f"at least RECONNECT_DELAY ({_num(reconnect_delay)})"
        )
    camera = CameraConfig(
        name=name,
        url=url,
        transport=r.choice("RTSP_TRANSPORT", TRANSPORTS),
        reconnect_delay=reconnect_delay,
        reconnect_max_delay=reconnect_max_delay,
        stall_timeout=r.seconds("STALL_TIMEOUT"),
        snapshot_interval=r.seconds("SNAPSHOT_INTERVAL", allow_zero=True),
        motion=_motion(r),
        record=_record(r),
    )
    video_dir = Path(r.raw("VIDEO_DIR"))
    temp_text = r.raw("TEMP_DIR")
    temp_dir = Path(temp_text) if temp_text else video_dir / ".tmp"
    events_text = r.raw("EVENTS_DB")
    config = Config(
        camera=camera,
        video_dir=video_dir,
        temp_dir=temp_dir,
        events_db=Path(events_text) if events_text else video_dir / "events.sqlite3",
        retention=Policy(
            retention_days=r.seconds("RETENTION_DAYS", allow_zero=True, unit="days"),
            snapshot_retention_days=r.seconds("SNAPSHOT_RETENTION_DAYS", allow_zero=True, unit="days"),
            max_storage_bytes=round(r.seconds("MAX_STORAGE_GB", allow_zero=True, unit="GB") * GB),
            min_free_bytes=round(r.seconds("MIN_FREE_GB", allow_zero=True, unit="GB") * GB),
        ),
        health_timeout=r.seconds("HEALTH_TIMEOUT"),
        log_level=r.choice("LOG_LEVEL", LOG_LEVELS),
        log_format=r.choice("LOG_FORMAT", LOG_FORMATS),
    )
    return config, r.problems
