"""Settings parsed into frozen dataclasses: from the environment (+ .env) for one camera, or from a
TOML document for several, every error collected and named by its place (``MOTION_MIN_AREA='x'``,
``cameras[front].motion_min_area='x'``, ``defaults.clip_seconds=…``).

Pure, and a leaf: it imports nothing of vcam's that does I/O or loads OpenCV or PyAV, so
`vcam health` and `vcam check` start fast. Reading files, and checks that need the filesystem,
live in app.py. What each setting is (kind, default, help) is written once, in settings.py.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from vcam import camera_url
from vcam.retention import Ages, Policy
from vcam.settings import (
    ALGORITHMS,
    ANNOTATED,
    BY_KEY,
    BY_NAME,
    DEFAULTS,
    LOG_FORMATS,
    LOG_LEVELS,
    PASSTHROUGH,
    PATH_SETTINGS,
    RECORD_MODES,
    RECORDS,
    SHAPES_EXPECTED,
    TRANSPORTS,
    Point,
    Polygon,
    Setting,
    format_shape,
    format_shapes,
    number_text,
    parse_shapes,
    rectangle,
)

__all__ = [
    "ALGORITHMS",
    "ANNOTATED",
    "DEFAULTS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "PASSTHROUGH",
    "PATH_SETTINGS",
    "RECORDS",
    "RECORD_MODES",
    "SHAPES_EXPECTED",
    "TRANSPORTS",
    "CameraConfig",
    "Config",
    "ConfigError",
    "MotionSettings",
    "Point",
    "Polygon",
    "Problem",
    "RecordSettings",
    "format_shape",
    "format_shapes",
    "parse",
    "parse_motion",
    "parse_shapes",
    "read",
    "rectangle",
]

GB = 1_000_000_000
_CAMERA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SHOWN_VALUE_CHARS = 80  # a value echoed in an error is cut to this


# --- what the stages are configured with ---------------------------------------------------------


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
    idle_decode: str = "keyframes"  # or "all": what is decoded while nothing moves
    idle_max_gop: float = 2.0  # keyframes-only decoding needs a keyframe at least this often


@dataclass(frozen=True)
class RecordSettings:
    mode: str = ANNOTATED
    clip_seconds: float = 30.0
    pre_seconds: float = 3.0
    audio: bool = True  # keep the camera's sound (AAC as it is, other codecs turned into AAC)
    record: str = "events"  # events | continuous | both
    segment_seconds: float = 60.0

    @property
    def events(self) -> bool:
        """Motion events get clips of their own."""
        return self.record in ("events", "both")

    @property
    def continuous(self) -> bool:
        """Recorded around the clock in segments."""
        return self.record in ("continuous", "both")


@dataclass(frozen=True)
class CameraConfig:
    """What one pipeline needs."""

    name: str
    url: str
    transport: str
    reconnect_delay: float
    reconnect_max_delay: float
    stall_timeout: float
    snapshot_interval: float
    motion: MotionSettings
    record: RecordSettings
    detect_url: str = ""  # a sub-stream to analyse motion on; "" = the main stream
    retention_days: float = 30.0  # clips and event snapshots; 0 = while space allows
    snapshot_retention_days: float = 7.0
    continuous_retention_days: float = 3.0  # continuous segments without motion
    motion_segment_retention_days: float = 7.0
    enabled: bool = True
    live_fps: float = 5.0  # the web UI's live view
    live_width: int = 640
    shown: tuple[tuple[str, str], ...] = ()  # (place, value) of each setting for `vcam check`, masked


@dataclass(frozen=True)
class Server:
    """A broker or mail server named by a URL: mqtt://user:pass@host:1883, smtps://…"""

    scheme: str
    host: str
    port: int
    user: str
    password: str  # percent-decoded

    @property
    def tls(self) -> bool:
        return self.scheme.endswith("s")


@dataclass(frozen=True)
class NotifySettings:
    mqtt: Server | None = None
    mqtt_prefix: str = "vcam"
    mqtt_client_id: str = ""  # "" = vcam-<prefix>-<host name>
    mqtt_ca_file: str = ""
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    webhooks: tuple[str, ...] = ()
    webhook_secret: str = ""
    smtp: Server | None = None
    email_to: tuple[str, ...] = ()
    email_from: str = ""
    alert_after: float = 300.0
    alert_on_motion: bool = False
    alert_max_per_hour: int = 6
    hooks: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (ON_MOTION_START, argv), …
    hook_timeout: float = 30.0
    metrics_addr: tuple[str, int] | None = ("127.0.0.1", 9108)


@dataclass(frozen=True)
class WebSettings:
    addr: tuple[str, int] | None = ("0.0.0.0", 8080)
    cert: str = ""  # a PEM file, SELF_SIGNED, or "" for plain HTTP
    key: str = ""
    trusted_proxies: tuple[str, ...] = ()


SELF_SIGNED = "self-signed"


@dataclass(frozen=True)
class Config:
    cameras: tuple[CameraConfig, ...]  # enabled or not; in the order given
    video_dir: Path
    temp_dir: Path
    events_db: Path
    retention: Policy
    health_timeout: float
    log_level: str
    log_format: str
    notify: NotifySettings = NotifySettings()
    web: WebSettings = WebSettings()
    from_file: bool = False  # the cameras came from a TOML file
    shown: tuple[tuple[str, str], ...] = ()  # the process-wide settings, for `vcam check`

    @property
    def enabled(self) -> tuple[CameraConfig, ...]:
        return tuple(c for c in self.cameras if c.enabled)

    def secrets(self) -> list[str]:
        """Every password and secret of the settings, for the logs to mask wherever it shows up."""
        urls = [url for c in self.cameras for url in (c.url, c.detect_url)] + list(self.notify.webhooks)
        found = [s for url in urls for s in camera_url.secrets(url)]
        servers = [s for s in (self.notify.mqtt, self.notify.smtp) if s is not None]
        found += [s.password for s in servers] + [self.notify.webhook_secret]
        return [s for s in found if len(s) >= camera_url.MIN_SECRET_CHARS]

    def describe(self) -> list[tuple[str, str]]:
        """Settings as (place, shown value) for ``vcam check``, passwords masked."""
        described = dict(self.shown)  # a setting both read (the retention default and a camera's): once
        for camera in self.cameras:
            described.update(camera.shown)
        return list(described.items())


# --- problems -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One bad setting: ``setting`` names it (as in the environment), ``text`` says
    ``PLACE='value': expected …``."""

    setting: str
    text: str


class ConfigError(Exception):
    """All problems found in one pass, each as ``PLACE='value': expected …``."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.text for p in problems))
        self.problems = [p.text for p in problems]
        self.settings = frozenset(p.setting for p in problems)


def known_settings() -> frozenset[str]:
    return frozenset(DEFAULTS)


def closest(name: str, known: Iterable[str]) -> str | None:
    return next(iter(difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)), None)


def unknown_settings(names: Iterable[str]) -> list[tuple[str, str | None]]:
    """Names that are no setting of ours (a typo in .env), each with the closest known one."""
    known = known_settings()
    return [(name, closest(name.upper(), known)) for name in names if name not in known]


def shown(value: str) -> str:
    """A value as an error may echo it: passwords masked, at most SHOWN_VALUE_CHARS characters."""
    text = camera_url.mask(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 1] + "…"


# --- reading values through layers ---------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """Where values come from, and how a place in it is named: the environment says
    ``MOTION_MIN_AREA``, a camera of the TOML file ``cameras[front].motion_min_area``."""

    values: Mapping[str, str]  # by setting name
    place: Callable[[Setting], str]


def env_layer(env: Mapping[str, str]) -> Layer:
    return Layer(env, lambda s: s.name)


class _Reader:
    """Reads settings through its layers (the first that sets one wins) and collects problems
    instead of stopping at the first."""

    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers
        self.problems: list[Problem] = []
        self._shown: dict[str, tuple[str, str]] = {}  # by name: (place, value as `vcam check` shows it)

    def show(self, name: str, text: str) -> None:
        self._shown[name] = (self.raw(name)[1], camera_url.mask(text))

    def shown(self) -> tuple[tuple[str, str], ...]:
        return tuple(self._shown.values())

    def raw(self, name: str) -> tuple[str, str]:
        """(value, place) of a setting: the default, placed in the first layer, if none sets it."""
        setting = BY_NAME[name]
        for layer in self.layers:
            value = layer.values.get(name)
            if value is not None and value.strip() != "":
                return value.strip(), layer.place(setting)
        return setting.default, self.layers[0].place(setting)

    def fail(self, name: str, expected: str) -> None:
        value, place = self.raw(name)
        self.problems.append(Problem(name, f"{place}={shown(value)!r}: expected {expected}"))

    def get(self, name: str) -> Any:
        """The parsed value, or the kind's fallback (and a problem); remembered for `vcam check`."""
        setting = BY_NAME[name]
        value, place = self.raw(name)
        try:
            parsed = setting.kind.parse(value)
        except ValueError:
            self.fail(name, setting.kind.expected)
            parsed = setting.kind.fallback
        text = "***" if setting.secret and parsed else camera_url.mask(setting.kind.show(parsed))
        self._shown[name] = (place, text)
        return parsed


def parse_motion(env: Mapping[str, str]) -> MotionSettings:
    """Just the motion settings (``vcam scan`` needs no camera); raises ConfigError."""
    r = _Reader([env_layer(env)])
    motion = _motion(r)
    if r.problems:
        raise ConfigError(r.problems)
    return motion


def _motion(r: _Reader) -> MotionSettings:
    return MotionSettings(
        algorithm=r.get("MOTION_ALGORITHM"),
        threshold=r.get("MOTION_THRESHOLD"),
        min_area=r.get("MOTION_MIN_AREA"),
        min_frames=r.get("MOTION_MIN_FRAMES"),
        post_seconds=r.get("MOTION_POST_SECONDS"),
        regions=r.get("MOTION_REGIONS"),
        mask=r.get("MOTION_MASK"),
        detect_width=r.get("DETECT_WIDTH"),
        detect_fps=r.get("DETECT_FPS"),
        idle_decode=r.get("IDLE_DECODE"),
        idle_max_gop=r.get("IDLE_MAX_GOP"),
    )


def _record(r: _Reader) -> RecordSettings:
    mode = r.get("RECORD_MODE")
    clip_seconds = r.get("CLIP_SECONDS")
    pre_seconds = r.get("PRE_SECONDS")
    if pre_seconds >= clip_seconds:
        r.fail("PRE_SECONDS", f"less than CLIP_SECONDS ({number_text(clip_seconds)})")
    return RecordSettings(
        mode,
        clip_seconds,
        pre_seconds,
        audio=r.get("RECORD_AUDIO"),
        record=r.get("RECORD"),
        segment_seconds=r.get("SEGMENT_SECONDS"),
    )


URL_EXPECTED = "rtsp://user:pass@host/path, http(s):// (MJPEG), a video file, 'demo' or 'browser'"


def _camera_url(r: _Reader, name: str = "RTSP_URL") -> str:
    """A camera URL (RTSP_URL, or DETECT_URL when set); a required one that is missing is a problem."""
    url, place = r.raw(name)
    r.show(name, url)
    if not url:
        if name == "RTSP_URL":
            r.problems.append(Problem(name, f"{place} is not set: expected {URL_EXPECTED}"))
            return camera_url.DEMO
        return ""
    scheme = camera_url.scheme_of(url)
    if scheme in camera_url.NETWORK_SCHEMES:
        encoding = camera_url.ffmpeg_authority_problem(url)
        if encoding is not None:
            r.fail(name, encoding)
        elif camera_url.endpoint(url) is None:
            r.fail(name, "a URL with a host, like rtsp://host:554/path")
    elif scheme == camera_url.BROWSER and name != "RTSP_URL":
        r.fail(name, "a camera's own sub-stream: a browser camera has none")
    elif scheme not in (camera_url.DEMO, camera_url.BROWSER, "file"):
        r.fail(name, "rtsp://, rtsps://, http://, https://, a video file path, 'demo' or 'browser'")
    return url


def _camera(r: _Reader) -> CameraConfig:
    url = _camera_url(r)
    name = r.get("CAMERA_NAME")
    if not _CAMERA_NAME.match(name):
        r.fail("CAMERA_NAME", "letters, digits, '-' or '_' (up to 64; used in file names)")
    reconnect_delay = r.get("RECONNECT_DELAY")
    reconnect_max_delay = r.get("RECONNECT_MAX_DELAY")
    if reconnect_max_delay < reconnect_delay:
        r.fail("RECONNECT_MAX_DELAY", f"at least RECONNECT_DELAY ({number_text(reconnect_delay)})")
    camera = CameraConfig(
        name=name,
        url=url,
        transport=r.get("RTSP_TRANSPORT"),
        reconnect_delay=reconnect_delay,
        reconnect_max_delay=reconnect_max_delay,
        stall_timeout=r.get("STALL_TIMEOUT"),
        snapshot_interval=r.get("SNAPSHOT_INTERVAL"),
        motion=_motion(r),
        record=_record(r),
        detect_url=_camera_url(r, "DETECT_URL"),
        retention_days=r.get("RETENTION_DAYS"),
        snapshot_retention_days=r.get("SNAPSHOT_RETENTION_DAYS"),
        continuous_retention_days=r.get("CONTINUOUS_RETENTION_DAYS"),
        motion_segment_retention_days=r.get("MOTION_SEGMENT_RETENTION_DAYS"),
        enabled=r.get("CAMERA_ENABLED"),
        live_fps=r.get("LIVE_FPS"),
        live_width=r.get("LIVE_WIDTH"),
    )
    return dataclasses.replace(camera, shown=r.shown())


def _process(r: _Reader, cameras: tuple[CameraConfig, ...], from_file: bool) -> Config:
    video_dir = Path(r.get("VIDEO_DIR"))
    temp_text = r.get("TEMP_DIR")
    temp_dir = Path(temp_text) if temp_text else video_dir / ".tmp"
    r.show("TEMP_DIR", str(temp_dir))
    events_text = r.get("EVENTS_DB")
    events_db = Path(events_text) if events_text else video_dir / "events.sqlite3"
    r.show("EVENTS_DB", str(events_db))
    return Config(
        cameras=cameras,
        video_dir=video_dir,
        temp_dir=temp_dir,
        events_db=events_db,
        retention=Policy(
            retention_days=r.get("RETENTION_DAYS"),
            snapshot_retention_days=r.get("SNAPSHOT_RETENTION_DAYS"),
            continuous_retention_days=r.get("CONTINUOUS_RETENTION_DAYS"),
            motion_segment_retention_days=r.get("MOTION_SEGMENT_RETENTION_DAYS"),
            max_storage_bytes=round(r.get("MAX_STORAGE_GB") * GB),
            min_free_bytes=round(r.get("MIN_FREE_GB") * GB),
        ),
        health_timeout=r.get("HEALTH_TIMEOUT"),
        log_level=r.get("LOG_LEVEL"),
        log_format=r.get("LOG_FORMAT"),
        notify=_notify(r),
        web=_web(r),
        from_file=from_file,
        shown=r.shown(),
    )


SERVER_PORTS = {"mqtt": 1883, "mqtts": 8883, "smtp": 587, "smtps": 465}
HOOKS = ("ON_MOTION_START", "ON_MOTION_END", "ON_CLIP_SAVED")
_TOPIC_LEVEL = re.compile(r"^[^#+/\s]+(/[^#+/\s]+)*$")
_ADDRESS = re.compile(r"^[^@\s,]+@[^@\s,]+$")


def _server(r: _Reader, name: str, schemes: tuple[str, str]) -> Server | None:
    url = r.get(name)
    if not url:
        return None
    expected = f"{schemes[0]}://[user:password@]host[:port] or {schemes[1]}://…"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        r.fail(name, expected)
        return None
    scheme = parts.scheme.lower()
    if scheme not in schemes or not parts.hostname or parts.path not in ("", "/"):
        r.fail(name, expected)
        return None
    return Server(
        scheme,
        parts.hostname,
        port or SERVER_PORTS[scheme],
        unquote(parts.username or ""),
        unquote(parts.password or ""),
    )


def _webhooks(r: _Reader) -> tuple[str, ...]:
    urls = tuple(r.get("WEBHOOK_URLS").split())
    for url in urls:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - a bad port raises here
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            place = r.raw("WEBHOOK_URLS")[1]
            r.problems.append(Problem("WEBHOOK_URLS", f"{place}: {shown(url)!r}: expected http(s)://host[:port]/path"))
    return urls


def _addresses(r: _Reader, name: str) -> tuple[str, ...]:
    addresses = tuple(a.strip() for a in r.get(name).split(",") if a.strip())
    if any(not _ADDRESS.match(a) for a in addresses):
        r.fail(name, "e-mail addresses separated by commas, like me@example.com, you@example.com")
    return addresses


def _hooks(r: _Reader) -> tuple[tuple[str, tuple[str, ...]], ...]:
    hooks = []
    for name in HOOKS:
        text = r.get(name)
        try:
            argv = tuple(shlex.split(text))
        except ValueError as exc:
            r.fail(name, f"a command and its arguments ({exc})")
            continue
        if argv:
            hooks.append((name, argv))
    return tuple(hooks)


def _address(r: _Reader, name: str) -> tuple[str, int] | None:
    """host:port, or None for off."""
    text = r.get(name)
    if text.lower() == "off":
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port (tests)
        r.fail(name, f"host:port, like 127.0.0.1:{port_example(name)} or 0.0.0.0:{port_example(name)}, or off")
        return None
    return host.strip("[]"), int(port)


def port_example(name: str) -> str:
    return BY_NAME[name].default.rpartition(":")[2]


def _web(r: _Reader) -> WebSettings:
    cert, key = r.get("WEB_CERT"), r.get("WEB_KEY")
    if cert and cert != SELF_SIGNED:
        if not Path(cert).is_file():
            r.fail("WEB_CERT", f"a PEM certificate file, or {SELF_SIGNED} (no such file)")
        if not key:
            r.fail("WEB_KEY", "the certificate's private key (PEM), when WEB_CERT is a file")
        elif not Path(key).is_file():
            r.fail("WEB_KEY", "a PEM private key file (no such file)")
    proxies = tuple(r.get("WEB_TRUSTED_PROXIES").split())
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            r.fail("WEB_TRUSTED_PROXIES", "IP addresses or networks (127.0.0.1 10.0.0.0/8), separated by spaces")
            break
    return WebSettings(addr=_address(r, "WEB_ADDR"), cert=cert, key=key, trusted_proxies=proxies)


def _notify(r: _Reader) -> NotifySettings:
    prefix = r.get("MQTT_TOPIC_PREFIX")
    if not _TOPIC_LEVEL.match(prefix):
        r.fail("MQTT_TOPIC_PREFIX", "topic levels without '#', '+', spaces or a leading/trailing '/', like vcam")
    discovery_prefix = r.get("MQTT_DISCOVERY_PREFIX")
    if not _TOPIC_LEVEL.match(discovery_prefix):
        r.fail("MQTT_DISCOVERY_PREFIX", "a topic like homeassistant")
    smtp = _server(r, "SMTP_URL", ("smtp", "smtps"))
    email_to = _addresses(r, "ALERT_EMAIL_TO")
    email_from = r.get("ALERT_EMAIL_FROM")
    if smtp is not None and not email_to:
        r.fail("ALERT_EMAIL_TO", "the addresses alerts go to, when SMTP_URL is set")
    if smtp is not None and not email_from and not _ADDRESS.match(smtp.user):
        r.fail("ALERT_EMAIL_FROM", "a sender address (the SMTP user is no address)")
    if email_from and not _ADDRESS.match(email_from):
        r.fail("ALERT_EMAIL_FROM", "an e-mail address, like vcam@example.com")
    return NotifySettings(
        mqtt=_server(r, "MQTT_URL", ("mqtt", "mqtts")),
        mqtt_prefix=prefix,
        mqtt_client_id=r.get("MQTT_CLIENT_ID"),
        mqtt_ca_file=r.get("MQTT_CA_FILE"),
        discovery=r.get("MQTT_DISCOVERY"),
        discovery_prefix=discovery_prefix,
        webhooks=_webhooks(r),
        webhook_secret=r.get("WEBHOOK_SECRET"),
        smtp=smtp,
        email_to=email_to,
        email_from=email_from or (smtp.user if smtp else ""),
        alert_after=r.get("ALERT_AFTER"),
        alert_on_motion=r.get("ALERT_ON_MOTION"),
        alert_max_per_hour=r.get("ALERT_MAX_PER_HOUR"),
        hooks=_hooks(r),
        hook_timeout=r.get("HOOK_TIMEOUT"),
        metrics_addr=_address(r, "METRICS_ADDR"),
    )


def parse(env: Mapping[str, str], needed: Iterable[str] | None = None, file: Mapping[str, Any] | None = None) -> Config:
    """Build a Config from the environment mapping (and a TOML document, if there is one), or raise
    ConfigError naming every bad setting.

    With ``needed``, only problems with those settings count: a command that reads the event log
    runs whatever is wrong with the camera's settings (bad ones keep their fallbacks)."""
    config, problems = read(env, file)
    if needed is not None:
        wanted = set(needed)
        problems = [p for p in problems if p.setting in wanted]
    if problems:
        raise ConfigError(problems)
    return config


def read(env: Mapping[str, str], file: Mapping[str, Any] | None = None) -> tuple[Config, list[Problem]]:
    """The Config (bad settings replaced by fallbacks) and every problem found."""
    if file is None:
        camera_reader, process_reader = _Reader([env_layer(env)]), _Reader([env_layer(env)])
        camera = _camera(camera_reader)
        config = _with_cameras(_process(process_reader, (), from_file=False), (camera,))
        return config, camera_reader.problems + process_reader.problems
    return _read_file(env, file)


# --- the TOML file ----------------------------------------------------------------------------------


def _toml_text(value: Any) -> str | None:
    """A TOML value as the text the kinds parse; None if it is of no kind a setting takes. Shapes
    may also be arrays: [[x, y, w, h], [x1, y1, x2, y2, x3, y3]]."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and all(
        isinstance(shape, list) and all(isinstance(n, int) and not isinstance(n, bool) for n in shape)
        for shape in value
    ):
        return "; ".join(",".join(str(n) for n in shape) for shape in value)
    return None


def _table(
    table: Mapping[str, Any], where: str, allowed: Callable[[Setting], str | None], problems: list[Problem]
) -> dict[str, str]:
    """One table's keys as setting values by name; unknown keys, keys out of place and values of
    the wrong type are problems named ``where.key``."""
    values: dict[str, str] = {}
    for key, value in table.items():
        place = f"{where}.{key}" if where else key
        setting = BY_KEY.get(key)
        if setting is None:
            guess = closest(key, BY_KEY)
            hint = f"; did you mean {guess}?" if guess else " (see vcam.toml.example)"
            problems.append(Problem(key.upper(), f"{place}: not a vcam setting{hint}"))
            continue
        refused = allowed(setting)
        if refused is not None:
            problems.append(Problem(setting.name, f"{place}: {refused}"))
            continue
        text = _toml_text(value)
        if text is None:
            problems.append(Problem(setting.name, f"{place}: expected {setting.kind.expected}"))
            continue
        values[setting.name] = text
    return values


def _process_only(setting: Setting) -> str | None:
    return "is set per camera: put it in [defaults] or a [[cameras]] entry" if setting.camera else None


def _camera_only(setting: Setting) -> str | None:
    return None if setting.camera else "is process-wide: set it at the top level or in [defaults]"


def _anywhere(setting: Setting) -> str | None:
    return None


# What names the one camera of .env: never a default for the cameras of a file.
ENV_CAMERA_ONLY = ("RTSP_URL", "CAMERA_NAME", "DETECT_URL")


def _read_file(env: Mapping[str, str], file: Mapping[str, Any]) -> tuple[Config, list[Problem]]:
    problems: list[Problem] = []
    top = {k: v for k, v in file.items() if k not in ("defaults", "cameras")}
    defaults_table = file.get("defaults", {})
    entries = file.get("cameras", [])
    if not isinstance(defaults_table, dict):
        problems.append(Problem("CONFIG_FILE", "defaults: expected a table: [defaults]"))
        defaults_table = {}
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.append(Problem("CONFIG_FILE", "cameras: expected tables: [[cameras]]"))
        entries = []
    top_values = _table(top, "", _process_only, problems)
    defaults = _table(defaults_table, "defaults", _anywhere, problems)

    # process-wide: the environment wins over the file's top level, which wins over [defaults]
    r = _Reader(
        [
            env_layer(env),
            Layer(top_values, lambda s: s.toml_key),
            Layer(defaults, _under("defaults")),
        ]
    )
    config = _process(r, (), from_file=True)
    problems += r.problems

    cameras: list[CameraConfig] = []
    seen: dict[str, str] = {}
    if not entries:
        problems.append(Problem("CONFIG_FILE", "cameras: no camera: add a [[cameras]] entry with a name and a url"))
    for index, entry in enumerate(entries):
        name = entry.get("name")
        label = f"cameras[{name}]" if isinstance(name, str) and _CAMERA_NAME.match(name) else f"cameras[{index}]"
        own = _table(entry, label, _camera_only, problems)
        if "name" not in entry:
            problems.append(Problem("CAMERA_NAME", f"{label}.name: required (it names the camera's folder)"))
        # a camera: its own entry, then [defaults], then the environment, then the built-in default
        r = _Reader(
            [
                Layer(own, _under(label)),
                Layer(defaults, _under("defaults")),
                Layer({k: v for k, v in env.items() if k not in ENV_CAMERA_ONLY}, lambda s: s.name),
            ]
        )
        camera = _camera(r)
        problems += r.problems
        folded = camera.name.casefold()
        if folded in seen and "CAMERA_NAME" in own:
            problems.append(
                Problem(
                    "CAMERA_NAME",
                    f"{label}.name={camera.name!r}: another camera is named {seen[folded]!r} "
                    "(each camera needs its own name: it names the camera's folder)",
                )
            )
        seen.setdefault(folded, camera.name)
        cameras.append(camera)
    if cameras and not any(camera.enabled for camera in cameras):
        problems.append(
            Problem("CAMERA_ENABLED", "cameras: every camera is disabled (enabled = false): nothing to record")
        )
    unique = list({problem.text: problem for problem in problems}.values())  # a bad default: said once
    return _with_cameras(config, tuple(cameras)), unique


def _with_cameras(config: Config, cameras: tuple[CameraConfig, ...]) -> Config:
    """The config with its cameras, and each camera's own retention in the policy."""
    ages = tuple(
        Ages(
            c.name,
            c.retention_days,
            c.snapshot_retention_days,
            c.continuous_retention_days,
            c.motion_segment_retention_days,
        )
        for c in cameras
    )
    return dataclasses.replace(config, cameras=cameras, retention=dataclasses.replace(config.retention, cameras=ages))


def _under(prefix: str) -> Callable[[Setting], str]:
    """Places in a table of the file: ``defaults.clip_seconds``, ``cameras[front].url``."""
    return lambda setting: f"{prefix}.{setting.toml_key}"
