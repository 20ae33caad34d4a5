from pathlib import Path

import pytest

from vcam import config


def parse(**env: str) -> config.Config:
    return config.parse({"RTSP_URL": "rtsp://cam/stream", **env})


def problems(**env: str) -> list[str]:
    with pytest.raises(config.ConfigError) as err:
        config.parse(env)
    return err.value.problems


def test_defaults() -> None:
    cfg = parse()
    assert cfg.camera.name == "camera"
    assert cfg.camera.transport == "auto"
    assert cfg.camera.reconnect_delay == 5
    assert cfg.camera.reconnect_max_delay == 60
    assert cfg.camera.stall_timeout == 10
    assert cfg.camera.snapshot_interval == 60
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
    assert cfg.camera.name == "front_door"
    assert cfg.video_dir == Path("/srv/video")
    assert cfg.temp_dir == Path("/srv/tmp")
    assert cfg.camera.snapshot_interval == 0
    assert cfg.camera.transport == "udp"
    assert cfg.camera.reconnect_delay == 0.5
    assert cfg.camera.stall_timeout == 4
    assert (cfg.log_level, cfg.log_format) == ("debug", "json")


def test_empty_values_fall_back_to_defaults() -> None:
    assert parse(STALL_TIMEOUT="", CAMERA_NAME="  ").camera.stall_timeout == 10


@pytest.mark.parametrize(
    "url", ["rtsp://u:p@10.0.0.2:554/s", "rtsps://cam/s", "http://cam/video.mjpg", "https://cam/x", "demo", "clip.mp4"]
)
def test_accepted_camera_urls(url: str) -> None:
    assert parse(RTSP_URL=url).camera.url == url


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
        "RTSP_URL='ftp://cam/x': expected rtsp://, rtsps://, http://, https://, a video file path, or 'demo'",
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
    motion = parse().camera.motion
    assert (motion.algorithm, motion.threshold, motion.min_area, motion.min_frames) == ("gauss", 16, 0.5, 2)
    assert (motion.post_seconds, motion.detect_width, motion.detect_fps) == (2, 320, 5)
    assert motion.regions == motion.mask == ()
    tuned = parse(
        MOTION_ALGORITHM="MOG2",
        MOTION_MIN_AREA="1.5",
        MOTION_MIN_FRAMES="4",
        MOTION_REGIONS="631,532,210,127; 0,0, 100,0, 50,80",
        MOTION_MASK="0,0,640,40",
        DETECT_WIDTH="480",
        DETECT_FPS="5",
    ).camera.motion
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
    assert config.parse_shapes(config.format_shapes(cfg.camera.motion.regions)) == cfg.camera.motion.regions


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
    assert parse().camera.record.audio is True
    assert parse(RECORD_AUDIO="OFF").camera.record.audio is False
    assert ("RECORD_AUDIO", "off") in parse(RECORD_AUDIO="off").describe()
    assert problems(RTSP_URL="demo", RECORD_AUDIO="mute") == ["RECORD_AUDIO='mute': expected one of on|off"]
