"""Every setting, written down once: name, kind (type and range), default, whether it is per camera
or process-wide, and its help. Parsing (config.py), `vcam check`, `vcam scan`'s flags, .env_example
and vcam.toml.example all come from this table.

Pure, and a leaf: it imports nothing of vcam's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Point = tuple[int, int]
Polygon = tuple[Point, ...]


def number_text(value: float) -> str:
    """A number as settings are written: 5, 0.5, 1e+06."""
    return f"{value:g}"


# --- kinds: how a value is read from text, what is expected, and how it is shown ---------------


@dataclass(frozen=True)
class Text:
    """Any text (URLs, names, paths: checked where they are used)."""

    expected: str = "text"
    fallback: str = ""

    def parse(self, text: str) -> str:
        return text

    def show(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True)
class Seconds:
    allow_zero: bool = False
    unit: str = "seconds"
    fallback: float = 1.0

    @property
    def expected(self) -> str:
        return f"a number of {self.unit} >= 0" if self.allow_zero else f"a number of {self.unit} > 0"

    def parse(self, text: str) -> float:
        number = float(text)
        if not math.isfinite(number) or number < 0 or (number == 0 and not self.allow_zero):
            raise ValueError(text)
        return number

    def show(self, value: Any) -> str:
        return number_text(value)


@dataclass(frozen=True)
class Number:
    low: float  # excluded
    high: float  # included

    @property
    def expected(self) -> str:
        return f"a number above {number_text(self.low)} and at most {number_text(self.high)}"

    @property
    def fallback(self) -> float:
        return self.high

    def parse(self, text: str) -> float:
        number = float(text)
        if not (math.isfinite(number) and self.low < number <= self.high):
            raise ValueError(text)
        return number

    def show(self, value: Any) -> str:
        return number_text(value)


@dataclass(frozen=True)
class Integer:
    low: int
    high: int

    @property
    def expected(self) -> str:
        return f"a whole number from {self.low} to {self.high}"

    @property
    def fallback(self) -> int:
        return self.low

    def parse(self, text: str) -> int:
        number = int(text)
        if not self.low <= number <= self.high:
            raise ValueError(text)
        return number

    def show(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]

    @property
    def expected(self) -> str:
        return "one of " + "|".join(self.choices)

    @property
    def fallback(self) -> str:
        return self.choices[0]

    def parse(self, text: str) -> str:
        if text.lower() not in self.choices:
            raise ValueError(text)
        return text.lower()

    def show(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True)
class Switch:
    """on/off (TOML: true/false)."""

    expected: str = "one of on|off"
    fallback: bool = True

    def parse(self, text: str) -> bool:
        if text.lower() not in ("on", "off"):
            raise ValueError(text)
        return text.lower() == "on"

    def show(self, value: Any) -> str:
        return "on" if value else "off"


SHAPES_EXPECTED = "rectangles 'x,y,w,h' or polygons 'x1,y1,x2,y2,x3,y3,…' in pixels, separated by ';'"


def rectangle(x: int, y: int, w: int, h: int) -> Polygon:
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))


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


def format_shape(shape: Polygon) -> str:
    return ",".join(f"{x},{y}" for x, y in shape)


def format_shapes(shapes: tuple[Polygon, ...]) -> str:
    return "; ".join(format_shape(shape) for shape in shapes)


@dataclass(frozen=True)
class Shapes:
    expected: str = SHAPES_EXPECTED
    fallback: tuple[Polygon, ...] = ()

    def parse(self, text: str) -> tuple[Polygon, ...]:
        return parse_shapes(text)

    def show(self, value: Any) -> str:
        return format_shapes(value)


Kind = Text | Seconds | Number | Integer | Choice | Switch | Shapes


# --- the table ----------------------------------------------------------------------------------

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "console", "json", "journal")
TRANSPORTS = ("auto", "tcp", "udp")  # auto: TCP, or UDP when the camera refuses TCP
ALGORITHMS = ("gauss", "mog2")
ANNOTATED = "annotated"
PASSTHROUGH = "passthrough"
RECORD_MODES = (ANNOTATED, PASSTHROUGH)
EVENTS = "events"
CONTINUOUS = "continuous"
BOTH = "both"
RECORDS = (EVENTS, CONTINUOUS, BOTH)
IDLE_DECODES = ("keyframes", "all")


@dataclass(frozen=True)
class Setting:
    name: str  # in the environment and .env; in vcam.toml the key is ``key``
    default: str
    kind: Kind
    help: str  # for the examples; empty: the help of the setting above covers it
    section: str
    camera: bool  # per camera (a [[cameras]] entry may set it), else process-wide
    key: str = ""  # the TOML key, when it is not the name in lower case
    example: str | None = None  # shown in the examples instead of the default
    commented: bool = False  # shown commented out: its default is derived from another setting
    secret: bool = False  # never shown (`vcam check` says *** when it is set), masked in logs

    @property
    def toml_key(self) -> str:
        return self.key or self.name.lower()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "RTSP_URL",
        "",
        Text(),
        "The camera: rtsp://user:password@host:554/path, rtsps://…, http(s)://… (MJPEG), a video file,\n"
        'or "demo" for the built-in synthetic camera, or "browser" for a phone\'s or laptop\'s browser streaming\n'
        "to the web UI (README: Use a phone as a camera). Required: the daemon will not start without it.\n"
        "A password with / ? or # in it is written percent-encoded: / as %2F, ? as %3F, # as %23\n"
        "(@ and : may stay, or be written %40 and %3A): rtsp://admin:p%2Fss@192.168.1.20/stream",
        "",
        camera=True,
        key="url",
        example="demo",
    ),
    Setting(
        "DETECT_URL",
        "",
        Text(),
        "The camera's second, smaller stream (its sub-stream, e.g. 640x360), if it has one: motion is\n"
        "analysed there and clips recorded from RTSP_URL, whose pictures are then never decoded unless\n"
        "clips are annotated. The cheapest way to watch a 1080p or 4K camera on a Pi. Empty = off.",
        "",
        camera=True,
        commented=True,
        example="rtsp://admin:password@192.168.1.20:554/stream2",
    ),
    Setting(
        "CAMERA_NAME",
        "camera",
        Text(),
        "Name used in file names and log lines (letters, digits, - and _).",
        "",
        camera=True,
        key="name",
    ),
    Setting(
        "CAMERA_ENABLED",
        "on",
        Switch(),
        "Record this camera (off: keep it in the file, but leave it alone).",
        "",
        camera=True,
        key="enabled",
    ),
    Setting(
        "CONFIG_FILE",
        "",
        Text(),
        "A TOML file with several cameras (see vcam.toml.example); default vcam.toml beside .env\n"
        "when it exists. Without one, the settings here describe one camera.",
        "",
        camera=False,
        commented=True,
        example="vcam.toml",
    ),
    Setting(
        "VIDEO_DIR",
        "video",
        Text(),
        "Where clips and snapshots go, and where files are written before they are moved there.\n"
        "TEMP_DIR defaults to VIDEO_DIR/.tmp so the final move is an atomic rename on one filesystem.",
        "",
        camera=False,
    ),
    Setting("TEMP_DIR", "", Text(), "", "", camera=False, example="video/.tmp", commented=True),
    Setting(
        "SNAPSHOT_INTERVAL",
        "60",
        Seconds(allow_zero=True),
        "Seconds between JPEG snapshots of the live picture (0 = off).",
        "",
        camera=True,
    ),
    Setting(
        "RTSP_TRANSPORT",
        "auto",
        Choice(TRANSPORTS),
        "RTSP over tcp (survives packet loss), udp, or auto (the default): TCP, and UDP when the camera\n"
        "refuses TCP (some cameras and servers offer UDP only). The log says which is used.",
        "",
        camera=True,
    ),
    Setting(
        "RECONNECT_DELAY",
        "5",
        Seconds(),
        "Reconnecting: the first retry waits RECONNECT_DELAY seconds, then the wait doubles up to\n"
        "RECONNECT_MAX_DELAY (a little random shortening keeps several cameras out of step).\n"
        "A camera whose port was closed is retried as soon as it opens again.",
        "",
        camera=True,
    ),
    Setting("RECONNECT_MAX_DELAY", "60", Seconds(), "", "", camera=True),
    Setting(
        "STALL_TIMEOUT",
        "10",
        Seconds(),
        "Seconds without a picture before a camera counts as stalled and is reconnected.\n"
        "Also the time allowed for connecting.",
        "",
        camera=True,
    ),
    Setting("LOG_LEVEL", "info", Choice(LOG_LEVELS), "debug | info | warning | error", "", camera=False),
    Setting(
        "LOG_FORMAT",
        "auto",
        Choice(LOG_FORMATS),
        "auto | console | json | journal  (auto: journal under systemd, console elsewhere)",
        "",
        camera=False,
    ),
    Setting(
        "MOTION_ALGORITHM",
        "gauss",
        Choice(ALGORITHMS),
        "Background model: gauss (default: one running Gaussian per pixel, the cheapest) or mog2\n"
        "(OpenCV's MOG2, several backgrounds per pixel: for branches or water that move all day; more CPU).",
        "Motion detection",
        camera=True,
    ),
    Setting(
        "MOTION_THRESHOLD",
        "16",
        Number(0, 1000),
        "How different a pixel must be from the learnt background to count as changed, as a squared\n"
        "distance in standard deviations (16 = 4 of them; MOG2's varThreshold). Higher = less sensitive.",
        "Motion detection",
        camera=True,
    ),
    Setting(
        "MOTION_MIN_AREA",
        "0.5",
        Number(0, 100),
        "Percent of the watched area that must move for a frame to count as moving.",
        "Motion detection",
        camera=True,
    ),
    Setting(
        "MOTION_MIN_FRAMES",
        "2",
        Integer(1, 1000),
        "Moving frames in a row (of those analysed) before an event starts.",
        "Motion detection",
        camera=True,
    ),
    Setting(
        "MOTION_POST_SECONDS",
        "2",
        Seconds(allow_zero=True),
        "An event ends this many seconds after the last moving frame.",
        "Motion detection",
        camera=True,
    ),
    Setting(
        "MOTION_REGIONS",
        "",
        Shapes(),
        "Watch only these areas / never these areas, in pixels of the camera picture. Shapes are\n"
        'rectangles "x,y,w,h" or polygons "x1,y1,x2,y2,x3,y3,..." separated by ";". Empty = none.\n'
        "Mask the camera's own clock overlay: it is a real, tiny moving region.",
        "Motion detection",
        camera=True,
    ),
    Setting("MOTION_MASK", "", Shapes(), "", "Motion detection", camera=True),
    Setting(
        "DETECT_WIDTH",
        "320",
        Integer(64, 3840),
        "Motion is analysed on a copy this many pixels wide, at most DETECT_FPS frames per second\n"
        "(the rest are still decoded and recorded). Higher costs more CPU.",
        "Motion detection",
        camera=True,
    ),
    Setting("DETECT_FPS", "5", Number(0, 120), "", "Motion detection", camera=True),
    Setting(
        "IDLE_DECODE",
        "keyframes",
        Choice(IDLE_DECODES),
        "While nothing moves, decode only the camera's keyframes (keyframes) or every picture (all).\n"
        "keyframes costs about a fifth of the CPU; a keyframe that shows motion switches to every\n"
        "picture at once, so an event starts at most one keyframe interval later. Used only when the\n"
        "camera sends a keyframe at least every IDLE_MAX_GOP seconds (measured; the log says).",
        "Motion detection",
        camera=True,
    ),
    Setting("IDLE_MAX_GOP", "2", Seconds(), "", "Motion detection", camera=True),
    Setting(
        "RECORD",
        EVENTS,
        Choice(RECORDS),
        "events: a clip for each motion event. continuous: around the clock, in SEGMENT_SECONDS\n"
        "segments under VIDEO_DIR/<camera>/continuous/<YYYY-MM-DD>/<HH>/ (UTC), the camera's stream\n"
        "copied as it is (H.264/H.265 only); segments with motion are marked in the event log.\n"
        "both: segments and event clips. Segments are cut on keyframes, so each lasts +-1 GOP.",
        "Recording",
        camera=True,
    ),
    Setting("SEGMENT_SECONDS", "60", Number(1, 3600), "", "Recording", camera=True),
    Setting(
        "RECORD_MODE",
        "annotated",
        Choice(RECORD_MODES),
        "annotated: outlines and a time label drawn in, H.264 encoded. passthrough: the camera's own\n"
        "H.264/H.265 copied as it is (original quality, far less CPU; cut on keyframes, so +-1 GOP).",
        "Recording",
        camera=True,
    ),
    Setting(
        "CLIP_SECONDS",
        "30",
        Number(1, 3600),
        "Length of each clip, and how much of it comes from before the motion started.",
        "Recording",
        camera=True,
    ),
    Setting("PRE_SECONDS", "3", Seconds(allow_zero=True), "", "Recording", camera=True),
    Setting(
        "RECORD_AUDIO",
        "on",
        Switch(),
        "Keep the camera's sound in clips (on/off). AAC is copied as it is; G.711 (A-law, µ-law), Opus\n"
        "and other codecs are turned into AAC, which every MP4 player plays.",
        "Recording",
        camera=True,
    ),
    Setting(
        "RETENTION_DAYS",
        "30",
        Seconds(allow_zero=True, unit="days"),
        "Clips and event snapshots older than this many days are deleted (0 = keep while space allows).",
        "Storage",
        camera=True,
    ),
    Setting(
        "SNAPSHOT_RETENTION_DAYS",
        "7",
        Seconds(allow_zero=True, unit="days"),
        "Periodic snapshots are kept this many days (0 = as long as clips).",
        "Storage",
        camera=True,
    ),
    Setting(
        "CONTINUOUS_RETENTION_DAYS",
        "3",
        Seconds(allow_zero=True, unit="days"),
        "Continuous segments are kept this many days; segments with motion in them\n"
        "MOTION_SEGMENT_RETENTION_DAYS (0 = keep while space allows).",
        "Storage",
        camera=True,
    ),
    Setting("MOTION_SEGMENT_RETENTION_DAYS", "7", Seconds(allow_zero=True, unit="days"), "", "Storage", camera=True),
    Setting(
        "MAX_STORAGE_GB",
        "0",
        Seconds(allow_zero=True, unit="GB"),
        "Cap on everything in VIDEO_DIR, in GB (0 = no cap). Oldest continuous footage goes first\n"
        "(segments without motion, then with), then the oldest clips and snapshots; the newest clip stays.",
        "Storage",
        camera=False,
    ),
    Setting(
        "MIN_FREE_GB",
        "1",
        Seconds(allow_zero=True, unit="GB"),
        "Keep at least this much free on VIDEO_DIR's filesystem, in GB.",
        "Storage",
        camera=False,
    ),
    Setting(
        "EVENTS_DB",
        "",
        Text(),
        "The SQLite event log (events and clips); default VIDEO_DIR/events.sqlite3.",
        "Storage",
        camera=False,
        example="video/events.sqlite3",
        commented=True,
    ),
    Setting(
        "MQTT_URL",
        "",
        Text(),
        "An MQTT broker to tell (Home Assistant's, Mosquitto): mqtt://user:password@host:1883, or\n"
        "mqtts://…:8883 for TLS (the system's CAs, or MQTT_CA_FILE). Empty = off. Topics below\n"
        "MQTT_TOPIC_PREFIX: available, <camera>/motion ON|OFF, <camera>/status, <camera>/snapshot,\n"
        "<camera>/event (JSON), <camera>/clip; <camera>/record/set starts a clip on demand.",
        "Notifications",
        camera=False,
        commented=True,
        example="mqtt://vcam:password@192.168.1.10:1883",
    ),
    Setting("MQTT_TOPIC_PREFIX", "vcam", Text(), "", "Notifications", camera=False),
    Setting(
        "MQTT_CLIENT_ID",
        "",
        Text(),
        "The client id the broker knows this daemon by (default vcam-<prefix>-<host name>).",
        "Notifications",
        camera=False,
        commented=True,
        example="vcam-pi",
    ),
    Setting("MQTT_CA_FILE", "", Text(), "", "Notifications", camera=False, commented=True, example="/etc/ssl/ca.pem"),
    Setting(
        "MQTT_DISCOVERY",
        "on",
        Switch(),
        "Home Assistant MQTT discovery: each camera appears as a device with motion, connectivity,\n"
        "a camera picture and its last clip. Sent again whenever Home Assistant restarts.",
        "Notifications",
        camera=False,
    ),
    Setting("MQTT_DISCOVERY_PREFIX", "homeassistant", Text(), "", "Notifications", camera=False),
    Setting(
        "WEBHOOK_URLS",
        "",
        Text(),
        "URLs that get a POST of JSON at each motion start, end and clip, and when a camera goes\n"
        "offline or comes back (separated by spaces). With WEBHOOK_SECRET, each request carries\n"
        "X-Vcam-Signature: sha256=<HMAC of the body>. Empty = off.",
        "Notifications",
        camera=False,
        commented=True,
        example="http://192.168.1.10:8123/api/webhook/vcam-motion",
    ),
    Setting("WEBHOOK_SECRET", "", Text(), "", "Notifications", camera=False, commented=True, secret=True),
    Setting(
        "SMTP_URL",
        "",
        Text(),
        "E-mail alerts through this server: smtp://user:password@host:587 (STARTTLS; a password is\n"
        "only sent encrypted) or smtps://user:password@host:465 (TLS). Alerts go to ALERT_EMAIL_TO\n"
        "(addresses separated by commas) from ALERT_EMAIL_FROM (default the SMTP user).",
        "Notifications",
        camera=False,
        commented=True,
        example="smtps://me%40example.com:password@smtp.example.com:465",
    ),
    Setting("ALERT_EMAIL_TO", "", Text(), "", "Notifications", camera=False, commented=True, example="me@example.com"),
    Setting(
        "ALERT_EMAIL_FROM", "", Text(), "", "Notifications", camera=False, commented=True, example="vcam@example.com"
    ),
    Setting(
        "ALERT_AFTER",
        "300",
        Seconds(),
        "A camera down this many seconds is an alert (and one more when it is back); so is a disk that\n"
        "retention cannot keep within MIN_FREE_GB or MAX_STORAGE_GB.",
        "Notifications",
        camera=False,
    ),
    Setting(
        "ALERT_ON_MOTION",
        "off",
        Switch(),
        "Also mail each motion event, its outlined snapshot attached, at most ALERT_MAX_PER_HOUR per\n"
        "camera (more in that hour are counted, and said in the next mail).",
        "Notifications",
        camera=False,
    ),
    Setting("ALERT_MAX_PER_HOUR", "6", Integer(1, 3600), "", "Notifications", camera=False),
    Setting(
        "ON_MOTION_START",
        "",
        Text(),
        "Commands run at each motion start, end and saved clip: a program and its arguments, split as a\n"
        "shell would but run without one. The event is in environment variables: VCAM_EVENT,\n"
        "VCAM_CAMERA, VCAM_START, VCAM_END, VCAM_PEAK_AREA, VCAM_SNAPSHOT, VCAM_CLIP, VCAM_JSON.\n"
        "One at a time, each stopped after HOOK_TIMEOUT seconds; its exit status and output are logged.",
        "Notifications",
        camera=False,
        commented=True,
        example="/opt/camera_monitor/hooks/telegram.sh",
    ),
    Setting("ON_MOTION_END", "", Text(), "", "Notifications", camera=False, commented=True),
    Setting("ON_CLIP_SAVED", "", Text(), "", "Notifications", camera=False, commented=True),
    Setting("HOOK_TIMEOUT", "30", Seconds(), "", "Notifications", camera=False),
    Setting(
        "METRICS_ADDR",
        "127.0.0.1:9108",
        Text(),
        "Serve Prometheus metrics at http://METRICS_ADDR/metrics (and /healthz); off = none.\n"
        "0.0.0.0:9108 lets another machine scrape them: they are unauthenticated (camera names, counts).",
        "Metrics",
        camera=False,
    ),
    Setting(
        "WEB_ADDR",
        "0.0.0.0:8080",
        Text(),
        "The web UI at http://WEB_ADDR/ (live view, events, clips, storage, settings), behind a login;\n"
        "off = none. On the first start an admin user is made and its password printed once in the log.",
        "Web UI",
        camera=False,
    ),
    Setting(
        "WEB_CERT",
        "",
        Text(),
        "Serve the web UI over HTTPS with this certificate (PEM, and WEB_KEY its key), or self-signed =\n"
        "make one on the first start (phones then warn once). Needed for a phone's camera page. Empty = HTTP.",
        "Web UI",
        camera=False,
        commented=True,
        example="self-signed",
    ),
    Setting("WEB_KEY", "", Text(), "", "Web UI", camera=False, commented=True, example="/etc/ssl/private/vcam.key"),
    Setting(
        "WEB_TRUSTED_PROXIES",
        "",
        Text(),
        "Addresses of reverse proxies (Caddy, nginx) whose X-Forwarded-For and X-Forwarded-Proto are\n"
        "believed, separated by spaces; from anyone else those headers are ignored.",
        "Web UI",
        camera=False,
        commented=True,
        example="127.0.0.1",
    ),
    Setting(
        "LIVE_FPS",
        "5",
        Number(0, 30),
        "Live view: at most this many pictures a second, at most LIVE_WIDTH pixels wide, made only while\n"
        "someone watches, from the pictures already decoded.",
        "Web UI",
        camera=True,
    ),
    Setting("LIVE_WIDTH", "640", Integer(160, 3840), "", "Web UI", camera=True),
    Setting(
        "HEALTH_TIMEOUT",
        "30",
        Seconds(),
        "Seconds the daemon may go without reporting progress before Docker's HEALTHCHECK (vcam health)\n"
        "calls it unhealthy; systemd's watchdog (WatchdogSec) restarts a daemon that stops making progress.\n"
        "A camera that is down is said (log, STATUS=, vcam health), never a reason to restart: that would\n"
        "cut the other cameras' clips.",
        "Health",
        camera=False,
    ),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}
BY_KEY = {setting.toml_key: setting for setting in SETTINGS if setting.name != "CONFIG_FILE"}
DEFAULTS = {setting.name: setting.default for setting in SETTINGS}
PATH_SETTINGS = ("VIDEO_DIR", "TEMP_DIR", "EVENTS_DB", "CONFIG_FILE")  # relative: beside the file that sets it


def summary(setting: Setting) -> str:
    """A setting's help in one sentence: its own, or that of the setting above which covers it."""
    index = SETTINGS.index(setting)
    text = next(s.help for s in reversed(SETTINGS[: index + 1]) if s.help)
    return " ".join(text.split()).split(". ")[0].rstrip(".") + "."


def scan_flags() -> dict[str, Setting]:
    """`vcam scan`'s flags for the motion settings (MOTION_MIN_AREA: --min-area), checked like .env
    values; the shapes have flags of their own (--region, --mask, one shape each)."""
    return {
        s.name.lower().removeprefix("motion_").replace("_", "-"): s
        for s in SETTINGS
        if s.section == "Motion detection" and not isinstance(s.kind, Shapes)
    }


# --- the examples -------------------------------------------------------------------------------


def _comment(text: str) -> list[str]:
    return [f"# {line}" if line else "#" for line in text.splitlines()]


def env_example() -> str:
    """.env_example, from the table (a test keeps the committed file equal to this)."""
    lines = [
        "# vcam settings. Copy to .env and edit; variables set in the environment win over this file.",
        "# Every setting is shown with its default. For several cameras, use vcam.toml (vcam.toml.example).",
    ]
    section = ""
    for setting in SETTINGS:
        if setting.name == "CAMERA_ENABLED":
            continue  # a camera of .env is the one to record
        if setting.section != section:
            section = setting.section
            if section:
                lines += ["", f"# --- {section} ---"]
        if setting.help:
            if not lines[-1].startswith("# ---"):
                lines.append("")
            lines += _comment(setting.help)
        value = setting.example if setting.example is not None else setting.default
        lines.append(f"{'#' if setting.commented else ''}{setting.name}={value}")
    return "\n".join(lines) + "\n"


def _toml_value(setting: Setting, value: str) -> str:
    if isinstance(setting.kind, Switch):
        return "true" if value == "on" else "false"
    if isinstance(setting.kind, (Seconds, Number, Integer)):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml_example() -> str:
    """vcam.toml.example, from the table (a test keeps the committed file equal to this)."""
    lines = [
        "# vcam with several cameras. Copy to vcam.toml (beside .env, or name it in CONFIG_FILE or --config).",
        "# Keys are the settings' names in lower case (.env_example says what each does). Process-wide",
        "# settings go at the top; [defaults] sets anything for every camera; each [[cameras]] entry needs",
        "# a name and a url, and may set any per-camera setting. Environment variables still win over this",
        "# file's process-wide settings.",
        "",
    ]
    for setting in SETTINGS:
        if setting.camera or setting.name == "CONFIG_FILE":
            continue
        value = setting.example if setting.example is not None else setting.default
        lines += [*_comment(setting.help), f"{'# ' if setting.commented else ''}{setting.toml_key} = "]
        lines[-1] += _toml_value(setting, value)
    lines += ["", "[defaults]", "# Every per-camera setting, with its default; a camera's own entry wins."]
    for setting in SETTINGS:
        if not setting.camera or setting.toml_key in ("name", "url", "enabled", "detect_url"):
            continue
        value = setting.example if setting.example is not None else setting.default
        lines.append(f"# {setting.toml_key} = {_toml_value(setting, value)}")
    lines += [
        "",
        "[[cameras]]",
        'name = "front"',
        'url = "rtsp://admin:password@192.168.1.20:554/stream1"',
        'detect_url = "rtsp://admin:password@192.168.1.20:554/stream2"  # its 640x360 sub-stream',
        'record_mode = "passthrough"',
        'motion_mask = "1100,0,180,40"  # the camera\'s clock',
        "",
        "[[cameras]]",
        'name = "yard"',
        'url = "rtsp://admin:password@192.168.1.21:554/stream1"',
        "motion_min_area = 1.5",
        "clip_seconds = 20",
        "",
        "[[cameras]]",
        'name = "garage"',
        'url = "http://192.168.1.30/video.mjpg"',
        "enabled = false",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m vcam.settings env|toml: write the examples anew
    import sys

    print((toml_example if sys.argv[1:] == ["toml"] else env_example)(), end="")
