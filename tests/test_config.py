import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from vcam import config, settings


def parse(**env: str) -> config.Config:
    return config.parse({"RTSP_URL": "rtsp://cam/stream", **env})


def problems(**env: str) -> list[str]:
    with pytest.raises(config.ConfigError) as err:
        config.parse(env)
    return err.value.problems


def test_defaults() -> None:
    cfg = parse()
    assert cfg.cameras[0].name == "camera"
    assert cfg.cameras[0].transport == "auto"
    assert cfg.cameras[0].reconnect_delay == 5
    assert cfg.cameras[0].reconnect_max_delay == 60
    assert cfg.cameras[0].stall_timeout == 10
    assert cfg.cameras[0].snapshot_interval == 60
    assert cfg.video_dir == Path("video")
    assert cfg.temp_dir == Path("video/.tmp")
    assert (cfg.log_level, cfg.log_format) == ("info", "auto")


def test_values_are_read_and_normalised() -> None:
    cfg = parse(
        CAMERA_NAME="front_door",
        VIDEO_DIR="/srv/video",
        TEMP_DIR="/srv/tmp",
        SNAPSHOT_INTERVAL="0",
        RTSP_TRANSPORT="UDP",
        RECONNECT_DELAY="0.5",
        RECONNECT_MAX_DELAY="30",
        STALL_TIMEOUT=" 4 ",
        LOG_LEVEL="DEBUG",
        LOG_FORMAT="json",
    )
    assert cfg.cameras[0].name == "front_door"
    assert cfg.video_dir == Path("/srv/video")
    assert cfg.temp_dir == Path("/srv/tmp")
    assert cfg.cameras[0].snapshot_interval == 0
    assert cfg.cameras[0].transport == "udp"
    assert cfg.cameras[0].reconnect_delay == 0.5
    assert cfg.cameras[0].stall_timeout == 4
    assert (cfg.log_level, cfg.log_format) == ("debug", "json")


def test_empty_values_fall_back_to_defaults() -> None:
    assert parse(STALL_TIMEOUT="", CAMERA_NAME="  ").cameras[0].stall_timeout == 10


@pytest.mark.parametrize(
    "url", ["rtsp://u:p@10.0.0.2:554/s", "rtsps://cam/s", "http://cam/video.mjpg", "https://cam/x", "demo", "clip.mp4"]
)
def test_accepted_camera_urls(url: str) -> None:
    assert parse(RTSP_URL=url).cameras[0].url == url


def test_missing_url_is_named() -> None:
    (problem,) = problems()
    assert problem.startswith("RTSP_URL is not set")


def test_every_problem_is_reported_at_once_with_the_value() -> None:
    found = problems(
        RTSP_URL="ftp://cam/x",
        STALL_TIMEOUT="soon",
        RECONNECT_DELAY="-1",
        SNAPSHOT_INTERVAL="nan",
        RTSP_TRANSPORT="quic",
        LOG_LEVEL="loud",
        LOG_FORMAT="xml",
        CAMERA_NAME="../etc",
    )
    assert found == [
        "RTSP_URL='ftp://cam/x': expected rtsp://, rtsps://, http://, https://, a video file path, 'demo' or 'browser'",
        "CAMERA_NAME='../etc': expected letters, digits, '-' or '_' (up to 64; used in file names)",
        "RECONNECT_DELAY='-1': expected a number of seconds > 0",
        "RTSP_TRANSPORT='quic': expected one of auto|tcp|udp",
        "STALL_TIMEOUT='soon': expected a number of seconds > 0",
        "SNAPSHOT_INTERVAL='nan': expected a number of seconds >= 0",
        "LOG_LEVEL='loud': expected one of debug|info|warning|error",
        "LOG_FORMAT='xml': expected one of auto|console|json|journal",
    ]


def test_zero_is_refused_where_it_makes_no_sense() -> None:
    assert problems(RTSP_URL="demo", STALL_TIMEOUT="0") == ["STALL_TIMEOUT='0': expected a number of seconds > 0"]


def test_backoff_cap_below_delay() -> None:
    found = problems(RTSP_URL="demo", RECONNECT_DELAY="10", RECONNECT_MAX_DELAY="5")
    assert found == ["RECONNECT_MAX_DELAY='5': expected at least RECONNECT_DELAY (10)"]


def test_url_without_host() -> None:
    assert problems(RTSP_URL="rtsp:///stream") == [
        "RTSP_URL='rtsp:///stream': expected a URL with a host, like rtsp://host:554/path"
    ]


def test_password_never_in_errors_or_description() -> None:
    found = problems(RTSP_URL="ftp://admin:hunter2@cam/x")
    assert "hunter2" not in " ".join(found)
    assert "ftp://admin:***@cam/x" in found[0]
    described = dict(parse(RTSP_URL="rtsp://admin:hunter2@cam/x").describe())
    assert described["RTSP_URL"] == "rtsp://admin:***@cam/x"


def test_motion_defaults_and_values() -> None:
    motion = parse().cameras[0].motion
    assert (motion.algorithm, motion.threshold, motion.min_area, motion.min_frames) == ("gauss", 16, 0.5, 2)
    assert (motion.post_seconds, motion.detect_width, motion.detect_fps) == (2, 320, 5)
    assert motion.regions == motion.mask == ()
    tuned = (
        parse(
            MOTION_ALGORITHM="MOG2",
            MOTION_MIN_AREA="1.5",
            MOTION_MIN_FRAMES="4",
            MOTION_REGIONS="631,532,210,127; 0,0, 100,0, 50,80",
            MOTION_MASK="0,0,640,40",
            DETECT_WIDTH="480",
            DETECT_FPS="5",
        )
        .cameras[0]
        .motion
    )
    assert tuned.algorithm == "mog2"
    assert tuned.regions == (((631, 532), (841, 532), (841, 659), (631, 659)), ((0, 0), (100, 0), (50, 80)))
    assert tuned.mask == (((0, 0), (640, 0), (640, 40), (0, 40)),)
    assert (tuned.min_area, tuned.min_frames, tuned.detect_width, tuned.detect_fps) == (1.5, 4, 480, 5)


def test_motion_problems_are_named() -> None:
    found = problems(
        RTSP_URL="demo",
        MOTION_MIN_AREA="0",
        MOTION_MIN_FRAMES="1.5",
        MOTION_REGIONS="1,2,3",
        MOTION_MASK="0,0,-5,5",
        DETECT_WIDTH="10",
    )
    assert found == [
        "MOTION_MIN_AREA='0': expected a number above 0 and at most 100",
        "MOTION_MIN_FRAMES='1.5': expected a whole number from 1 to 1000",
        "MOTION_REGIONS='1,2,3': expected rectangles 'x,y,w,h' or polygons 'x1,y1,x2,y2,x3,y3,…' in pixels, "
        "separated by ';'",
        "MOTION_MASK='0,0,-5,5': expected rectangles 'x,y,w,h' or polygons 'x1,y1,x2,y2,x3,y3,…' in pixels, "
        "separated by ';'",
        "DETECT_WIDTH='10': expected a whole number from 64 to 3840",
    ]


def test_shapes_round_trip_for_check() -> None:
    cfg = parse(MOTION_REGIONS="1,2,3,4")
    assert dict(cfg.describe())["MOTION_REGIONS"] == "1,2,4,2,4,6,1,6"
    assert config.parse_shapes(config.format_shapes(cfg.cameras[0].motion.regions)) == cfg.cameras[0].motion.regions


def test_a_password_ffmpeg_would_cut_is_an_error_that_says_how_to_write_it() -> None:
    (problem,) = problems(RTSP_URL="rtsp://admin:se/cret@cam/live")
    assert problem.startswith("RTSP_URL='rtsp://admin:***@cam/live': expected a password containing '/'")
    assert "%2F" in problem and "se/cret" not in problem


def test_a_value_echoed_in_an_error_is_cut_to_80_characters() -> None:
    (problem,) = problems(RTSP_URL="demo", CAMERA_NAME="x" * 500)
    shown = problem.split("'")[1]
    assert len(shown) == config.SHOWN_VALUE_CHARS and shown.endswith("…")


def test_only_the_needed_settings_can_stop_a_command() -> None:
    env = {"VIDEO_DIR": "/srv/v", "STALL_TIMEOUT": "soon", "RTSP_URL": ""}
    assert config.parse(env, needed=("VIDEO_DIR", "EVENTS_DB")).events_db == Path("/srv/v/events.sqlite3")
    with pytest.raises(config.ConfigError) as err:
        config.parse(env, needed=("STALL_TIMEOUT",))
    assert err.value.problems == ["STALL_TIMEOUT='soon': expected a number of seconds > 0"]


def test_misspelt_settings_get_the_closest_known_name() -> None:
    found = dict(config.unknown_settings(["CLIP_SECOND", "RTSP_ULR", "VIDEO_DIR", "FAVOURITE_COLOUR"]))
    assert found == {"CLIP_SECOND": "CLIP_SECONDS", "RTSP_ULR": "RTSP_URL", "FAVOURITE_COLOUR": None}


def test_audio_is_recorded_unless_switched_off() -> None:
    assert parse().cameras[0].record.audio is True
    assert parse(RECORD_AUDIO="OFF").cameras[0].record.audio is False
    assert ("RECORD_AUDIO", "off") in parse(RECORD_AUDIO="off").describe()
    assert problems(RTSP_URL="demo", RECORD_AUDIO="mute") == ["RECORD_AUDIO='mute': expected one of on|off"]


# --- several cameras from a TOML document -------------------------------------------------------

TWO_CAMERAS: dict[str, Any] = {
    "video_dir": "/srv/video",
    "defaults": {"clip_seconds": 20, "record_mode": "passthrough", "motion_mask": [[0, 0, 100, 20]]},
    "cameras": [
        {"name": "front", "url": "rtsp://admin:hunter2@cam1/s", "motion_min_area": 1.5},
        {"name": "yard", "url": "rtsp://cam2/s", "clip_seconds": 10, "enabled": False, "record_audio": False}
        | {"retention_days": 3, "snapshot_retention_days": 1},
    ],
}


def from_file(document: Mapping[str, Any], **env: str) -> config.Config:
    return config.parse(env, file=document)


def file_problems(document: Mapping[str, Any], **env: str) -> list[str]:
    with pytest.raises(config.ConfigError) as err:
        config.parse(env, file=document)
    return err.value.problems


def test_cameras_from_a_file_take_their_own_settings_then_defaults_then_the_environment() -> None:
    cfg = from_file(TWO_CAMERAS, STALL_TIMEOUT="4", CLIP_SECONDS="99", VIDEO_DIR="/env/video")
    front, yard = cfg.cameras
    assert (front.name, front.url, yard.name) == ("front", "rtsp://admin:hunter2@cam1/s", "yard")
    assert (front.motion.min_area, yard.motion.min_area) == (1.5, 0.5)
    assert (front.record.clip_seconds, yard.record.clip_seconds) == (20, 10)  # [defaults] over the environment
    assert front.record.mode == yard.record.mode == "passthrough"
    assert front.motion.mask == (config.rectangle(0, 0, 100, 20),)  # shapes as arrays too
    assert front.stall_timeout == yard.stall_timeout == 4  # the environment under the file
    assert (front.enabled, yard.enabled, yard.record.audio) == (True, False, False)
    assert cfg.enabled == (front,)
    assert cfg.video_dir == Path("/env/video")  # the environment wins over the file's process-wide settings
    front_ages, yard_ages = cfg.retention.ages("front"), cfg.retention.ages("yard")  # each its own retention
    assert (front_ages.retention_days, front_ages.snapshot_retention_days) == (30, 7)
    assert (yard_ages.retention_days, yard_ages.snapshot_retention_days) == (3, 1)
    assert from_file(TWO_CAMERAS).video_dir == Path("/srv/video")


def test_check_shows_each_camera_by_its_place_with_passwords_masked() -> None:
    described = dict(from_file(TWO_CAMERAS).describe())
    assert described["cameras[front].url"] == "rtsp://admin:***@cam1/s"
    assert described["cameras[front].motion_min_area"] == "1.5"
    assert described["defaults.clip_seconds"] == "20"  # where the value came from
    assert described["cameras[yard].clip_seconds"] == "10"
    assert described["video_dir"] == "/srv/video" and described["TEMP_DIR"] == "/srv/video/.tmp"
    assert "hunter2" not in str(described)


def test_every_problem_in_a_file_is_named_by_its_place() -> None:
    document = {
        "video_dir": "/v",
        "clip_secnds": 3,
        "motion_min_area": 2,
        "defaults": {"stall_timeout": "soon"},
        "cameras": [
            {"url": "rtsp://cam/a"},
            {"name": "front", "url": "ftp://admin:hunter2@cam/x", "motion_min_area": "x", "log_level": "debug"},
            {"name": "Front", "url": "rtsp://cam/c", "motion_regions": [["a"]]},
            {"name": "side"},
        ],
    }
    assert file_problems(document) == [
        "clip_secnds: not a vcam setting; did you mean clip_seconds?",
        "motion_min_area: is set per camera: put it in [defaults] or a [[cameras]] entry",
        "cameras[0].name: required (it names the camera's folder)",
        "defaults.stall_timeout='soon': expected a number of seconds > 0",  # once, not once per camera
        "cameras[front].log_level: is process-wide: set it at the top level or in [defaults]",
        "cameras[front].url='ftp://admin:***@cam/x': expected rtsp://, rtsps://, http://, https://, a video file "
        "path, 'demo' or 'browser'",
        "cameras[front].motion_min_area='x': expected a number above 0 and at most 100",
        "cameras[Front].motion_regions: expected " + config.SHAPES_EXPECTED,
        "cameras[Front].name='Front': another camera is named 'front' (each camera needs its own name: it names "
        "the camera's folder)",
        "cameras[side].url is not set: expected rtsp://user:pass@host/path, http(s):// (MJPEG), a video file, "
        "'demo' or 'browser'",
    ]


def test_a_file_without_cameras_says_what_to_add() -> None:
    assert file_problems({"video_dir": "/v"}) == ["cameras: no camera: add a [[cameras]] entry with a name and a url"]
    assert file_problems({"cameras": [{"name": "a", "url": "demo", "enabled": False}]}) == [
        "cameras: every camera is disabled (enabled = false): nothing to record"
    ]


def test_the_examples_are_the_table_s_own() -> None:
    """.env_example and vcam.toml.example are written from vcam/settings.py: `python -m vcam.settings env`
    (or `toml`) writes them anew after a setting changes."""
    assert (REPO / ".env_example").read_text() == settings.env_example()
    assert (REPO / "vcam.toml.example").read_text() == settings.toml_example()
    for setting in settings.SETTINGS:
        assert setting.name in settings.env_example() or setting.name == "CAMERA_ENABLED"
        if setting.name != "CONFIG_FILE":
            assert setting.toml_key in settings.toml_example()
    example = tomllib.loads(settings.toml_example())
    cameras = from_file(example).cameras
    assert [c.name for c in cameras] == ["front", "yard", "garage"] and not cameras[2].enabled


def test_the_environment_example_parses_to_the_defaults() -> None:
    lines = settings.env_example().splitlines()
    env = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert config.parse(env) == config.parse({"RTSP_URL": "demo"})


def test_web_settings_are_checked_with_every_problem_at_once() -> None:
    with pytest.raises(config.ConfigError) as raised:
        config.parse(
            {
                "RTSP_URL": "demo",
                "WEB_ADDR": "nonsense",
                "WEB_CERT": "/nonexistent.pem",
                "WEB_TRUSTED_PROXIES": "10.0.0.0/8 proxy.lan",
            }
        )
    problems = raised.value.problems
    assert "WEB_ADDR='nonsense': expected host:port, like 127.0.0.1:8080 or 0.0.0.0:8080, or off" in problems
    assert any(p.startswith("WEB_CERT='/nonexistent.pem': expected a PEM certificate file") for p in problems)
    assert any(p.startswith("WEB_KEY='': expected the certificate's private key") for p in problems)
    assert any(p.startswith("WEB_TRUSTED_PROXIES=") for p in problems)
    settings = config.parse(
        {"RTSP_URL": "browser", "CAMERA_NAME": "hall", "WEB_ADDR": "off", "WEB_CERT": "self-signed"}
    )
    assert settings.web.addr is None and settings.web.cert == config.SELF_SIGNED
    assert settings.cameras[0].url == "browser"
    assert config.parse({"RTSP_URL": "demo"}).web.addr == ("0.0.0.0", 8080)
