"""The entry point: the only place that reads the environment, installs signal handlers and
configures logging. Exit codes: 0 done, 1 a command failed, 2 bad usage, 78 bad configuration."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import cv2
from dotenv import dotenv_values

from vcam import camera_url, config, logs, memory, scan, storage
from vcam.errors import SourceError
from vcam.eventlog import ClipRow, EventLog
from vcam.pipeline import Pipeline
from vcam.source import connect
from vcam.supervisor import Supervisor
from vcam.systemd import Notifier

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78  # EX_CONFIG: systemd's RestartPreventExitStatus keeps a bad config from restart-looping
STOP_BUDGET_S = 6.0  # well inside systemd's and Docker's 10 s before SIGKILL
TICK_S = 1.0


class UsageError(Exception):
    pass


def load_environment(env_file: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    """``.env`` (or --env-file) under the process environment: the environment wins."""
    path = Path(env_file) if env_file else Path(".env")
    merged: dict[str, str] = {}
    if env_file and not path.is_file():
        raise UsageError(f"--env-file {env_file}: no such file")
    if path.is_file():
        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(environ)
    return merged


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vcam", description="Motion-recording daemon for IP cameras.")
    parser.add_argument("--env-file", help="settings file to read instead of ./.env")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run the daemon (the default)")
    run.add_argument("--demo", action="store_true", help="use the built-in demo camera")
    commands.add_parser("check", help="validate the settings and print them, passwords masked")
    commands.add_parser("health", help="exit 0 if the running daemon reports itself healthy (Docker HEALTHCHECK)")
    probe = commands.add_parser("probe", help="connect to a camera once and describe its stream")
    probe.add_argument("url", help="camera URL (rtsp://, http://), video file, or 'demo'")
    scan = commands.add_parser("scan", help="find motion events in a video file, as fast as it decodes")
    scan.add_argument("file", help="video file")
    scan.add_argument("--json", action="store_true", help="one JSON object per event and line")
    scan.add_argument("--region", action="append", default=[], metavar="SHAPE", help="watch only here: x,y,w,h")
    scan.add_argument("--mask", action="append", default=[], metavar="SHAPE", help="ignore this area: x,y,w,h")
    for flag, name in SCAN_SETTING_FLAGS.items():
        scan.add_argument(f"--{flag}", dest=name, metavar="VALUE", help=f"overrides {name}")
    for name, what in (("events", "motion events with their clips"), ("clips", "recorded clips")):
        listing = commands.add_parser(name, help=f"list {what} from the event log")
        listing.add_argument("--camera")
        listing.add_argument("--since", type=when, help="YYYY-MM-DD[ HH:MM[:SS]], or an age like 30m, 12h, 7d")
        listing.add_argument("--until", type=when, help="as --since")
        listing.add_argument("--json", action="store_true", help="one JSON object per line")
        if name == "events":
            listing.add_argument("--min-duration", type=float, metavar="SECONDS")
    return parser


def when(text: str) -> float:
    """A point in time as epoch seconds: local date/time, or an age ago (30m, 12h, 7d)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(text[:-1]) * units[text[-1]]
    for layout in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return time.mktime(time.strptime(text, layout))
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{text!r}: expected YYYY-MM-DD[ HH:MM[:SS]] or an age like 30m, 12h, 7d")


# vcam scan flags that stand for settings, so the flags are checked exactly like .env values
SCAN_SETTING_FLAGS = {
    "algorithm": "MOTION_ALGORITHM",
    "threshold": "MOTION_THRESHOLD",
    "min-area": "MOTION_MIN_AREA",
    "min-frames": "MOTION_MIN_FRAMES",
    "post-seconds": "MOTION_POST_SECONDS",
    "detect-width": "DETECT_WIDTH",
    "detect-fps": "DETECT_FPS",
}


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in ("-h", "--help")):
        args_list = _default_to_run(args_list)
    args = build_parser().parse_args(args_list)
    try:
        env = load_environment(args.env_file, os.environ)
    except UsageError as exc:
        print(f"vcam: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "probe":
        return probe(args.url, env)
    if args.command == "scan":
        return scan_command(args, env)
    if args.command in ("events", "clips"):
        return list_command(args, env)
    if args.command == "health":
        return health_command(env)
    if getattr(args, "demo", False):
        env["RTSP_URL"] = camera_url.DEMO
    try:
        settings = config.parse(env)
    except config.ConfigError as exc:
        _log_config_problems(exc.problems, env)
        return EXIT_CONFIG
    logs.configure(settings.log_level, logs.choose_format(settings.log_format, env))
    log = logs.get()
    problems = _check_directories(settings)
    if problems:
        for problem in problems:
            log.error("config_invalid", problem=problem)
        return EXIT_CONFIG
    if args.command == "check":
        for name, value in settings.describe():
            print(f"{name}={value}")
        return EXIT_OK
    return run(settings)


def _default_to_run(args: list[str]) -> list[str]:
    """``vcam_runner.py [--env-file F] [--demo]`` means ``run``: put the word where argparse wants it."""
    head: list[str] = []
    rest = list(args)
    if rest[:1] == ["--env-file"] and len(rest) >= 2:
        head, rest = rest[:2], rest[2:]
    elif rest and rest[0].startswith("--env-file="):
        head, rest = rest[:1], rest[1:]
    if rest and rest[0] in ("run", "check", "probe", "scan", "events", "clips", "health"):
        return head + rest
    return [*head, "run", *rest]


def _log_config_problems(problems: list[str], env: Mapping[str, str]) -> None:
    fmt = env.get("LOG_FORMAT", "auto").strip().lower()
    logs.configure("info", logs.choose_format(fmt if fmt in config.LOG_FORMATS else "auto", env))
    log = logs.get()
    for problem in problems:
        log.error("config_invalid", problem=problem)


def _check_directories(settings: config.Config) -> list[str]:
    problems = []
    for name, folder in (("VIDEO_DIR", settings.video_dir), ("TEMP_DIR", settings.temp_dir)):
        try:
            storage.check_writable(folder)
        except OSError as exc:
            problems.append(f"{name}={str(folder)!r}: cannot create or write there ({exc.strerror or exc})")
    return problems


def run(settings: config.Config) -> int:
    log = logs.get()
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cv2.setNumThreads(1)  # one thread per pipeline does the image work; OpenCV's pool only adds CPU
    memory.tune_malloc()  # before the threads start, so they share its arenas

    events = open_event_log(settings, log)
    keeper = storage.StorageKeeper(
        settings.video_dir,
        settings.temp_dir,
        settings.retention,
        log,
        on_deleted=events.forget if events is not None else None,
    )

    def make_pipeline() -> Pipeline:
        return Pipeline(
            settings.camera,
            settings.video_dir,
            settings.temp_dir,
            log,
            events=events,
            make_room=keeper.enforce,
            on_clip=lambda _: keeper.request(),
        )

    supervisor = Supervisor([make_pipeline], log)
    notifier = Notifier(os.environ)
    health_file = settings.temp_dir / HEALTH_FILE
    log.info("vcam_started", pid=os.getpid(), cameras=1, video_dir=str(settings.video_dir))
    keeper.start()
    supervisor.start()
    notifier.ready(supervisor.summary(settings.health_timeout)[1])
    while not stop.wait(TICK_S):
        supervisor.tick()
        healthy, status = supervisor.summary(settings.health_timeout)
        notifier.status(status)
        if healthy:
            notifier.watchdog()  # withheld while a camera gives no frames: systemd restarts us
        write_health(health_file, healthy=healthy, status=status, stopping=False)
    log.info("vcam_stopping")
    notifier.stopping()
    write_health(health_file, healthy=True, status="stopping", stopping=True)
    started = time.monotonic()
    clean = supervisor.stop(STOP_BUDGET_S)
    keeper.stop()
    keeper.join(time.monotonic() + 1)
    if events is not None:
        events.close()
    health_file.unlink(missing_ok=True)  # no daemon, no health: TEMP_DIR is left empty
    log.info("vcam_stopped", clean=clean, stop_s=round(time.monotonic() - started, 2))
    if not clean:
        # A reader still blocked inside FFmpeg on a frozen camera: clips are finished (the recorder is
        # always joined), and letting the interpreter tear down modules under that thread can crash
        # it. Leave at once instead.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_OK)
    return EXIT_OK


HEALTH_FILE = "health.json"  # in TEMP_DIR: fresh while the daemon runs, read by `vcam health`
HEALTH_STALE_S = 30.0


def write_health(path: Path, *, healthy: bool, status: str, stopping: bool) -> None:
    record = {"time": time.time(), "pid": os.getpid(), "healthy": healthy, "stopping": stopping, "status": status}
    with contextlib.suppress(OSError):  # a full disk must not stop the main loop; `vcam health` then says stale
        storage.atomic_write(path, json.dumps(record).encode(), durable=False)


def health_command(env: Mapping[str, str]) -> int:
    """For Docker's HEALTHCHECK: 0 if the daemon's health file is fresh and says healthy (or stopping)."""
    try:
        settings = config.parse(env)
    except config.ConfigError as exc:
        print(f"unhealthy: bad configuration: {exc.problems[0]}")
        return EXIT_FAILED
    path = settings.temp_dir / HEALTH_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        print(f"unhealthy: no health file at {path} (is the daemon running?)")
        return EXIT_FAILED
    age = time.time() - float(record.get("time", 0))
    if record.get("stopping"):
        print("stopping")
        return EXIT_OK
    if age > HEALTH_STALE_S:
        print(f"unhealthy: the daemon has not reported for {age:.0f} s")
        return EXIT_FAILED
    print(("healthy: " if record.get("healthy") else "unhealthy: ") + str(record.get("status", "")))
    return EXIT_OK if record.get("healthy") else EXIT_FAILED


def open_event_log(settings: config.Config, log: Any) -> EventLog | None:
    """The event log, reconciled with the clips on disk; recording goes on without it if it fails."""
    try:
        events = EventLog(settings.events_db)
        on_disk = [
            (f.path.relative_to(settings.video_dir).parts[0], f.path, f.time, f.size)
            for f in storage.stored_files(settings.video_dir, settings.temp_dir)
            if f.kind == "clip"
        ]
        removed, added = events.reconcile(on_disk)
    except (sqlite3.Error, OSError) as exc:
        log.error("eventlog_unavailable", path=str(settings.events_db), error=str(exc))
        return None
    if removed or added:
        log.info("eventlog_reconciled", rows_removed=removed, clips_added=added)
    return events


def probe(url: str, env: Mapping[str, str]) -> int:
    """Connect once and describe the stream: a quick way to check a camera URL."""
    settings_env = dict(env, RTSP_URL=url)
    try:
        camera = config.parse(settings_env).camera
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
    print(f"url={shown}\ncodec={info.codec}\nsize={frame.width}x{frame.height}\nfps={fps}\nfirst_frame_s={elapsed:.2f}")
    return EXIT_OK


def scan_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
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
        print(f"{len(result.events)} events in {result.frames} frames ({result.duration:.2f} s)")
    return EXIT_OK


def _progress_bar(name: str, total: float | None) -> scan.Progress:
    def show(frame: int, t: float) -> None:
        share = f"{100 * t / total:3.0f} %" if total else f"{t:.0f} s"
        print(f"\rscanning {name}: {share} (frame {frame})", end="", file=sys.stderr, flush=True)

    return show


def local(epoch: float | None) -> str:
    """Local time with its zone: stored in UTC, shown the way the owner reads a clock."""
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(epoch))


def list_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``vcam events`` / ``vcam clips``: what the event log holds, filtered."""
    try:
        db = config.parse({**env, "RTSP_URL": env.get("RTSP_URL") or camera_url.DEMO}).events_db  # no camera needed
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(f"vcam {args.command}: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    if not db.is_file():
        print(f"vcam {args.command}: no event log at {db} (EVENTS_DB); the daemon creates it", file=sys.stderr)
        return EXIT_FAILED
    try:
        log = EventLog(db)
    except sqlite3.Error as exc:
        print(f"vcam {args.command}: cannot read {db}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        if args.command == "clips":
            for clip in log.clips(args.camera, args.since, args.until):
                row = {**dataclasses.asdict(clip), "start_local": local(clip.start)}
                print(json.dumps(row) if args.json else _clip_line(clip))
            return EXIT_OK
        for event in log.events(args.camera, args.since, args.until, args.min_duration):
            clips = log.clips(event_id=event.id)
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


def _clip_line(clip: ClipRow) -> str:
    partial = " (partial)" if clip.partial else ""
    return (
        f"{local(clip.start)}  {clip.camera}  {clip.duration:5.1f} s  {clip.size / 1e6:6.1f} MB  {clip.path}{partial}"
    )
