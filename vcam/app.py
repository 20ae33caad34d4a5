"""The command line: the only place that reads the environment, .env and the cameras file, and
configures logging; every command, each with heavy imports (OpenCV, PyAV) only where it needs
them. `run` hands the checked settings to daemon.py. Exit codes: 0 done, 1 a command failed, 2 bad
usage, 78 bad configuration."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import sqlite3
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from vcam import __version__, camera_url, config, layout, logs, storage
from vcam.eventlog import ClipRow, EventLog
from vcam.settings import scan_flags, summary
from vcam.web.accounts import AccountError, Accounts
from vcam.web.auth import ADMIN, ROLES, VIEWER

# OpenCV and PyAV (and the modules that load them) are imported inside the commands that need
# them: `vcam health` runs every 30 s in Docker, and `check`, `events` and `clips` need neither.

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78  # EX_CONFIG: systemd's RestartPreventExitStatus keeps a bad config from restart-looping


class EnvFileError(Exception):
    """The settings file cannot be read: a configuration error (exit 78), said plainly."""


@dataclass(frozen=True)
class Environment:
    values: dict[str, str]  # the settings file under the process environment: the environment wins
    file: Path | None  # the settings file read, if any
    file_names: tuple[str, ...]  # the names that file sets, to catch typos in it
    cameras_file: dict[str, Any] | None = None  # the TOML document of several cameras, if there is one
    cameras_path: Path | None = None


CONFIG_FILE_NAME = "vcam.toml"  # looked for beside .env


def load_environment(env_file: str | None, environ: Mapping[str, str], config_file: str | None = None) -> Environment:
    """``.env`` (or --env-file) under the process environment (the environment wins), and the TOML
    file of cameras: --config, else CONFIG_FILE, else vcam.toml beside .env if it exists."""
    environment = _load_env_file(env_file, environ)
    named = config_file or environment.values.get("CONFIG_FILE", "").strip()
    env_dir = environment.file.parent if environment.file is not None else Path.cwd()
    path = Path(named) if named else env_dir / CONFIG_FILE_NAME
    if not named and not path.is_file():
        return environment
    if not path.is_file():
        what = "--config" if config_file else "CONFIG_FILE"
        raise EnvFileError(f"{what}={named!r}: no such file")
    document = read_toml(path.resolve())
    return dataclasses.replace(environment, cameras_file=document, cameras_path=path.resolve())


def read_toml(path: Path) -> dict[str, Any]:
    """The cameras file as a document; relative folders in it mean folders beside it."""
    try:
        document = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise EnvFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise EnvFileError(f"{path}: byte {exc.start + 1} is not UTF-8 text (save the file as UTF-8)") from None
    except tomllib.TOMLDecodeError as exc:
        raise EnvFileError(f"{path}: not valid TOML: {exc}") from None
    for table in (document, document.get("defaults")):
        if not isinstance(table, dict):
            continue
        for name in config.PATH_SETTINGS:
            value = table.get(name.lower())
            if isinstance(value, str) and value.strip() and not Path(value.strip()).is_absolute():
                table[name.lower()] = str(path.parent / value.strip())
    return document


def _load_env_file(env_file: str | None, environ: Mapping[str, str]) -> Environment:
    path = Path(env_file) if env_file else Path(".env")
    if env_file and not path.is_file():
        raise EnvFileError(f"--env-file {env_file}: no such file")
    if not path.is_file():
        return Environment(dict(environ), None, ())
    path = path.resolve()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EnvFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise EnvFileError(
            f"{path} line {line}, byte {column}: 0x{data[exc.start]:02x} is not UTF-8 text (save the file as UTF-8)"
        ) from None
    from_file = {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}
    for name in config.PATH_SETTINGS:  # a relative folder in the file means one beside the file
        value = from_file.get(name, "").strip()
        if value and not Path(value).is_absolute():
            from_file[name] = str(path.parent / value)
    return Environment({**from_file, **environ}, path, tuple(from_file))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vcam", description="Motion-recording daemon for IP cameras.")
    parser.add_argument("--env-file", help="settings file to read instead of ./.env")
    parser.add_argument(
        "--config", help=f"TOML file of cameras (default: CONFIG_FILE, or {CONFIG_FILE_NAME} beside .env)"
    )
    parser.add_argument("--version", action="version", version=f"vcam {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, what: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=what, description=what[0].upper() + what[1:] + ".")

    run = command("run", "run the daemon (the default): record the camera in RTSP_URL until stopped")
    run.add_argument("--demo", action="store_true", help="use the built-in demo camera")
    command(
        "check",
        "check every setting (and that VIDEO_DIR and TEMP_DIR can be written) without changing anything; "
        "print them, passwords masked; exit 78 listing every problem",
    )
    command("health", "exit 0 if the running daemon reports itself healthy (Docker's HEALTHCHECK)")
    probe = command("probe", "connect to a camera once and describe its stream, or say why it failed")
    probe.add_argument("url", help="camera URL (rtsp://, http://), video file, or 'demo'")
    scan = command("scan", "find motion events in a video file with the daemon's detector, as fast as it decodes")
    scan.add_argument("file", help="video file")
    scan.add_argument("--json", action="store_true", help="one JSON object per event and line")
    scan.add_argument("--region", action="append", default=[], metavar="SHAPE", help="watch only here: x,y,w,h")
    scan.add_argument("--mask", action="append", default=[], metavar="SHAPE", help="ignore this area: x,y,w,h")
    for flag, setting in scan_flags().items():
        scan.add_argument(f"--{flag}", dest=setting.name, metavar="VALUE", help=f"{setting.name}: {summary(setting)}")
    for name, what in (("events", "motion events with their clips"), ("clips", "recorded clips")):
        listing = command(name, f"list {what} from the event log, in local time")
        listing.add_argument("--camera")
        listing.add_argument("--since", type=when, help="YYYY-MM-DD[ HH:MM[:SS]], or an age like 30m, 12h, 7d")
        listing.add_argument("--until", type=when, help="as --since")
        listing.add_argument("--json", action="store_true", help="one JSON object per line")
        if name == "events":
            listing.add_argument("--min-duration", type=float, metavar="SECONDS")
    export = command("export", "copy a camera's continuous recording from one time to another into one MP4")
    export.add_argument("camera")
    export.add_argument("start", metavar="FROM", type=when, help="YYYY-MM-DD[ HH:MM[:SS]] (local time), or an age")
    export.add_argument("end", metavar="TO", type=when, help="as FROM")
    export.add_argument("-o", "--output", required=True, type=Path, metavar="FILE.mp4")
    user = command("user", "manage the web UI's users (the password is asked for, or read from stdin)")
    actions = user.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default=VIEWER, help=f"default {VIEWER}; an {ADMIN} may change things")
    actions.add_parser("passwd", help="set a user's password (ends the user's sessions)").add_argument("name")
    actions.add_parser("del", help="remove a user").add_argument("name")
    actions.add_parser("list", help="list the users")
    token = actions.add_parser("token", help="make an API token for a user (printed once)")
    token.add_argument("name")
    token.add_argument("label", help="what it is for, e.g. home-assistant")
    return parser


def when(text: str) -> float:
    """A point in time as epoch seconds: local date/time, or an age ago (30m, 12h, 7d)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(text[:-1]) * units[text[-1]]
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return time.mktime(time.strptime(text, pattern))
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{text!r}: expected YYYY-MM-DD[ HH:MM[:SS]] or an age like 30m, 12h, 7d")


# vcam scan flags that stand for settings, so the flags are checked exactly like .env values
SCAN_SETTING_FLAGS = {flag: setting.name for flag, setting in scan_flags().items()}


COMMANDS = ("run", "check", "probe", "scan", "events", "clips", "export", "health", "user")
# The settings each command needs: the others may be wrong without stopping it.
LISTING_SETTINGS = ("VIDEO_DIR", "EVENTS_DB")
PROBE_SETTINGS = ("RTSP_URL", "RTSP_TRANSPORT", "STALL_TIMEOUT", "RECORD_AUDIO")
HEALTH_SETTINGS = ("VIDEO_DIR", "TEMP_DIR", "HEALTH_TIMEOUT")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in ("-h", "--help", "--version")):
        args_list = _default_to_run(args_list)
    args = build_parser().parse_args(args_list)
    try:
        environment = load_environment(args.env_file, os.environ, args.config)
    except EnvFileError as exc:
        _log_config_problems([str(exc)], os.environ)
        return EXIT_CONFIG
    env = environment.values
    cameras_file = environment.cameras_file
    if args.command == "probe":
        return probe(args.url, env)
    if args.command == "scan":
        return scan_command(args, env)
    if args.command in ("events", "clips"):
        return list_command(args, env, cameras_file)
    if args.command == "health":
        return health_command(env, cameras_file)
    if args.command == "user":
        return user_command(args, env, cameras_file)
    if args.command == "export":
        return export_command(args, env, cameras_file)
    if getattr(args, "demo", False):  # the demo camera alone, whatever the cameras file says
        env["RTSP_URL"] = camera_url.DEMO
        cameras_file = None
    typos = [_typo_warning(environment, name, guess) for name, guess in config.unknown_settings(environment.file_names)]
    if args.command == "check":
        return check_command(env, cameras_file, typos)
    return run_command(env, cameras_file, typos)


Document = dict[str, Any] | None  # the TOML file of cameras, if there is one


def check_command(env: Mapping[str, str], cameras_file: Document, typos: list[str]) -> int:
    """Every problem at once, the folders' included; creates nothing."""
    settings, found = config.read(env, cameras_file)
    problems = [p.text for p in found] + _check_directories(settings, create=False)
    log = _early_log(env)
    for typo in typos:
        log.warning("setting_unknown", problem=typo)
    if problems:
        _log_config_problems(problems, env)
        return EXIT_CONFIG
    for name, value in settings.describe():
        print(f"{name}={value}")
    return EXIT_OK


def run_command(env: Mapping[str, str], cameras_file: Document, typos: list[str]) -> int:
    settings, found = config.read(env, cameras_file)
    problems = [p.text for p in found]
    if not problems:  # folders are made only for settings that are otherwise good
        problems = _check_directories(settings, create=True)
    if problems:
        _log_config_problems(problems, env)
        return EXIT_CONFIG
    logs.configure(
        settings.log_level,
        logs.choose_format(settings.log_format, env),
        secrets=settings.secrets(),
    )
    log = logs.get()
    for typo in typos:
        log.warning("setting_unknown", problem=typo)
    for camera in settings.enabled:
        lock = layout.lock_path(settings.temp_dir, camera.name)
        try:
            storage.hold_lock(lock)  # held until the process ends
        except storage.Locked as exc:
            log.error(
                "camera_taken",
                problem=f"camera {camera.name!r} is already recorded by another vcam (pid {exc.holder}) "
                f"with TEMP_DIR={str(settings.temp_dir)!r}: stop that one, or give this one another name",
            )
            return EXIT_CONFIG
        except OSError as exc:
            log.error("config_invalid", problem=f"TEMP_DIR={str(settings.temp_dir)!r}: cannot lock {lock}: {exc}")
            return EXIT_CONFIG
    from vcam.daemon import run  # loads OpenCV and PyAV: only the daemon needs them

    return run(settings)


def _typo_warning(environment: Environment, name: str, closest: str | None) -> str:
    guess = f"; did you mean {closest}?" if closest else " (see .env_example for every setting)"
    return f"{environment.file}: {name} is not a vcam setting{guess}"


def _default_to_run(args: list[str]) -> list[str]:
    """``vcam_runner.py [--env-file F] [--config F] [--demo]`` means ``run``: put the word where
    argparse wants it."""
    head: list[str] = []
    rest = list(args)
    while rest:
        if rest[0] in GLOBAL_OPTIONS and len(rest) >= 2:
            head, rest = head + rest[:2], rest[2:]
        elif rest[0].split("=", 1)[0] in GLOBAL_OPTIONS and "=" in rest[0]:
            head, rest = head + rest[:1], rest[1:]
        else:
            break
    if rest and (rest[0] in COMMANDS or rest[0] in ("-h", "--help", "--version")):
        return head + rest
    return [*head, "run", *rest]


GLOBAL_OPTIONS = ("--env-file", "--config")


def _early_log(env: Mapping[str, str]) -> Any:
    """A logger before the settings are known good: LOG_FORMAT if it is valid, else the default."""
    fmt = env.get("LOG_FORMAT", "auto").strip().lower()
    chosen = logs.choose_format(fmt if fmt in config.LOG_FORMATS else "auto", env)
    urls = [env.get(name, "") for name in ("RTSP_URL", "DETECT_URL", "MQTT_URL", "SMTP_URL")]
    urls += env.get("WEBHOOK_URLS", "").split()
    secrets = [s for url in urls for s in camera_url.secrets(url)]
    secret = env.get("WEBHOOK_SECRET", "")
    logs.configure("info", chosen, secrets=secrets + ([secret] if len(secret) >= camera_url.MIN_SECRET_CHARS else []))
    return logs.get()


def _log_config_problems(problems: list[str], env: Mapping[str, str]) -> None:
    log = _early_log(env)
    for problem in problems:
        log.error("config_invalid", problem=problem)


def _check_directories(settings: config.Config, *, create: bool) -> list[str]:
    """VIDEO_DIR and TEMP_DIR must be writable folders; ``create`` makes them (the daemon does,
    ``check`` only looks)."""
    problems = []
    for name, folder in (("VIDEO_DIR", settings.video_dir), ("TEMP_DIR", settings.temp_dir)):
        try:
            if create:
                storage.check_writable(folder)
            else:
                storage.check_could_write(folder)
        except OSError as exc:
            problems.append(f"{name}={str(folder)!r}: cannot create or write there ({exc.strerror or exc})")
    return problems


def health_command(env: Mapping[str, str], cameras_file: Document) -> int:
    """For Docker's HEALTHCHECK: 0 if every running daemon's health file is fresh and says healthy
    (or stopping). Each daemon writes its own, so two daemons sharing TEMP_DIR never mix them up."""
    try:
        settings = config.parse(env, needed=HEALTH_SETTINGS, file=cameras_file)
    except config.ConfigError as exc:
        print(f"unhealthy: bad configuration: {exc.problems[0]}")
        return EXIT_FAILED
    verdicts = [
        _health_of(path, settings.health_timeout)
        for pid, path in layout.health_files(settings.temp_dir)
        if _running(pid)
    ]
    if not verdicts:
        print(f"unhealthy: no running daemon has a health file in {settings.temp_dir} (is the daemon running?)")
        return EXIT_FAILED
    for _, line in verdicts:
        print(line)
    return EXIT_OK if all(good for good, _ in verdicts) else EXIT_FAILED


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process, but it exists
    return True


def _health_of(path: Path, stale_after: float) -> tuple[bool, str]:
    """A daemon writes its health file every second: one older than HEALTH_TIMEOUT is a daemon that
    stopped making progress (frozen, wedged), whatever it last said."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return False, f"unhealthy: cannot read {path}"
    if record.get("stopping"):
        return True, "stopping"
    age = time.time() - float(record.get("time", 0))
    if age > stale_after:
        return False, f"unhealthy: the daemon has not reported for {age:.0f} s"
    healthy = bool(record.get("healthy"))
    return healthy, ("healthy: " if healthy else "unhealthy: ") + str(record.get("status", ""))


def probe(url: str, env: Mapping[str, str]) -> int:
    """Connect once and describe the stream: a quick way to check a camera URL."""
    from vcam.errors import SourceError
    from vcam.source import connect

    settings_env = dict(env, RTSP_URL=url)
    try:
        (camera,) = config.parse(settings_env, needed=PROBE_SETTINGS).cameras
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(f"vcam probe: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    shown = camera_url.mask(url)
    started = time.monotonic()
    try:
        connection = connect(camera)
        try:
            frame = next(f for chunk in connection.chunks() for f in chunk.frames)
        finally:
            connection.close()
    except SourceError as exc:
        print(f"vcam probe: {shown}: {exc.reason}: {exc.detail}", file=sys.stderr)
        return EXIT_FAILED
    elapsed = time.monotonic() - started
    info = connection.info
    fps = f"{info.fps:g}" if info.fps else "unknown"
    print(f"url={shown}\ncodec={info.codec}\nsize={frame.width}x{frame.height}\nfps={fps}")
    if info.transport:
        print(f"transport={info.transport}")
    print(f"audio={_audio_line(info.audio, connection.audio is not None, camera.record.audio)}")
    print(f"first_frame_s={elapsed:.2f}")
    return EXIT_OK


def _audio_line(described: str | None, recordable: bool, wanted: bool) -> str:
    """What probe says of the sound: the track, and whether clips will carry it."""
    if described is None:
        return "none"
    if not wanted:
        return f"{described} (not recorded: RECORD_AUDIO=off)"
    return f"{described} ({'recorded' if recordable else 'cannot be recorded'})"


def scan_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    import cv2

    from vcam import scan

    overrides = {name: getattr(args, name) for name in SCAN_SETTING_FLAGS.values() if getattr(args, name) is not None}
    if args.region:
        overrides["MOTION_REGIONS"] = ";".join(args.region)
    if args.mask:
        overrides["MOTION_MASK"] = ";".join(args.mask)
    try:
        settings = config.parse_motion({**env, **overrides})
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(f"vcam scan: {problem}", file=sys.stderr)
        return EXIT_USAGE
    cv2.setNumThreads(1)
    show_progress = sys.stderr.isatty() and not args.json
    try:
        progress = _progress_bar(args.file, scan.duration_of(Path(args.file))) if show_progress else None
        result = scan.scan(Path(args.file), settings, progress)
    except scan.ScanError as exc:
        if show_progress:
            print(file=sys.stderr)
        print(f"vcam scan: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if show_progress:
        print("\r\033[K", end="", file=sys.stderr)
    for warning in result.warnings:
        print(f"vcam scan: warning: {warning}", file=sys.stderr)
    for number, event in enumerate(result.events, 1):
        row = scan.event_row(event)
        if args.json:
            print(json.dumps(row))
        else:
            print(
                f"event {number}: {row['start']:.2f} s - {row['end']:.2f} s "
                f"(frames {row['start_frame']}-{row['end_frame']}), peak area {row['peak_area']:.1f} %"
            )
    if not args.json:
        damaged = f"; skipped {result.damaged} damaged packets" if result.damaged else ""
        decoded = (
            f", {result.decoded} decoded (the rest skipped: IDLE_DECODE=keyframes)"
            if result.decoded < result.frames
            else ""
        )
        print(f"{len(result.events)} events in {result.frames} frames ({result.duration:.2f} s){decoded}{damaged}")
    return EXIT_OK


def _progress_bar(name: str, total: float | None) -> Callable[[int, float], None]:
    def show(frame: int, t: float) -> None:
        share = f"{100 * t / total:3.0f} %" if total else f"{t:.0f} s"
        print(f"\rscanning {name}: {share} (frame {frame})", end="", file=sys.stderr, flush=True)

    return show


def local(epoch: float | None) -> str:
    """Local time with its zone: stored in UTC, shown the way the owner reads a clock."""
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(epoch))


def _events_db(command: str, env: Mapping[str, str], cameras_file: Document) -> Path | None:
    """EVENTS_DB for a command that needs only it; None (said) when the settings for it are bad."""
    try:
        return config.parse(env, needed=LISTING_SETTINGS, file=cameras_file).events_db
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(f"{command}: {problem}", file=sys.stderr)
        return None


def _password(name: str) -> str:
    """Asked twice on a terminal; else the first line of stdin (for scripts)."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass(f"Password for {name}: ")
    if getpass.getpass("Again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def user_command(args: argparse.Namespace, env: Mapping[str, str], cameras_file: Document) -> int:
    """``vcam user add|passwd|del|list|token``: the web UI's users, in the event database (also
    while the daemon runs)."""
    db = _events_db("vcam user", env, cameras_file)
    if db is None:
        return EXIT_CONFIG
    try:
        accounts = Accounts(db)
    except (sqlite3.Error, OSError) as exc:
        print(f"vcam user: cannot open {db} (EVENTS_DB): {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        _user_action(accounts, args)
        return EXIT_OK
    except AccountError as exc:
        print(f"vcam user {args.action}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except sqlite3.Error as exc:
        print(f"vcam user {args.action}: {db}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        accounts.close()


def _user_action(accounts: Accounts, args: argparse.Namespace) -> None:
    if args.action == "list":
        for user in accounts.users():
            print(f"{user.name}  {user.role}  since {local(user.created)}")
    elif args.action == "add":
        accounts.add_user(args.name, _password(args.name), args.role)
        print(f"added {args.name} ({args.role})")
    elif args.action == "passwd":
        if accounts.user(args.name) is None:
            raise AccountError(f"no user {args.name!r}")
        accounts.set_password(args.name, _password(args.name))
        print(f"changed the password of {args.name}; their sessions have ended")
    elif args.action == "del":
        accounts.remove_user(args.name)
        print(f"removed {args.name}")
    else:
        print(accounts.new_api_token(args.name, args.label))


def _existing_event_log(command: str, env: Mapping[str, str], cameras_file: Document) -> EventLog | int:
    """The event log the daemon made, for a command that reads it; else the exit code (said why)."""
    db = _events_db(command, env, cameras_file)
    if db is None:
        return EXIT_CONFIG
    if not db.is_file():
        print(f"{command}: no event log at {db} (EVENTS_DB); the daemon creates it", file=sys.stderr)
        return EXIT_FAILED
    try:
        return EventLog(db)
    except sqlite3.Error as exc:
        print(f"{command}: cannot read {db}: {exc}", file=sys.stderr)
        return EXIT_FAILED


def list_command(args: argparse.Namespace, env: Mapping[str, str], cameras_file: Document) -> int:
    """``vcam events`` / ``vcam clips``: what the event log holds, filtered."""
    log = _existing_event_log(f"vcam {args.command}", env, cameras_file)
    if isinstance(log, int):
        return log
    try:
        if args.command == "clips":
            for clip in log.clips(args.camera, args.since, args.until):
                row = {**dataclasses.asdict(clip), "start_local": local(clip.start)}
                print(json.dumps(row) if args.json else _clip_line(clip))
            return EXIT_OK
        for event in log.events(args.camera, args.since, args.until, args.min_duration):
            clips = log.clips_covering(event)
            if args.json:
                row = {**dataclasses.asdict(event), "start_local": local(event.start), "clips": [c.path for c in clips]}
                print(json.dumps(row))
                continue
            duration = f"{event.end - event.start:6.1f} s" if event.end is not None else "   open "
            print(f"{local(event.start)}  {event.camera}  {duration}  peak {event.peak_area:5.1f} %")
            for clip in clips:
                print(f"    {_clip_line(clip)}")
    finally:
        log.close()
    return EXIT_OK


def export_command(args: argparse.Namespace, env: Mapping[str, str], cameras_file: Document) -> int:
    """``vcam export CAMERA FROM TO -o FILE.mp4``: the segments of that time, copied into one file."""
    from vcam import export, footage  # loads PyAV: only this command needs it

    if args.end <= args.start:
        print("vcam export: TO must come after FROM", file=sys.stderr)
        return EXIT_USAGE
    log = _existing_event_log("vcam export", env, cameras_file)
    if isinstance(log, int):
        return log
    try:
        rows = log.segments(args.camera, args.start, args.end)
    except sqlite3.Error as exc:
        print(f"vcam export: cannot read {log.path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        log.close()
    covered = footage.cover(rows, args.start, args.end)
    for begin, finish in covered.gaps:
        print(f"gap: {local(begin)} - {local(finish)} ({finish - begin:.0f} s): nothing recorded")
    try:
        written = export.write(covered, args.start, args.end, args.output)
    except export.ExportError as exc:
        print(f"vcam export: {args.camera} {local(args.start)} - {local(args.end)}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    gaps = f", {len(covered.gaps)} gap{'s' if len(covered.gaps) != 1 else ''}" if covered.gaps else ", no gap"
    print(
        f"wrote {written.path}: {written.seconds:.1f} s, {written.frames} pictures "
        f"from {len(covered.segments)} segments{gaps}"
    )
    return EXIT_OK


def _clip_line(clip: ClipRow) -> str:
    partial = " (partial)" if clip.partial else ""
    return (
        f"{local(clip.start)}  {clip.camera}  {clip.duration:5.1f} s  {clip.size / 1e6:6.1f} MB  {clip.path}{partial}"
    )
