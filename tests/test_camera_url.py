from urllib.parse import quote

import pytest

from vcam import camera_url


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/live", "rtsp://admin:***@10.0.0.5:554/live"),
        ("rtsp://admin:@cam/live", "rtsp://admin:***@cam/live"),
        ("http://u:p%40ss@cam/video.mjpg", "http://u:***@cam/video.mjpg"),
        ("error opening 'rtsp://a:b@c/d' twice rtsp://e:f@g", "error opening 'rtsp://a:***@c/d' twice rtsp://e:***@g"),
        ("rtsp://cam/live", "rtsp://cam/live"),
        ("rtsp://user@cam/live", "rtsp://user@cam/live"),
        ("no url here: a:b@c", "no url here: a:b@c"),
    ],
)
def test_mask(text: str, masked: str) -> None:
    assert camera_url.mask(text) == masked


@pytest.mark.parametrize("char", [*":@/#?[]!$&'()*+,;=%", " ", "\\"])
def test_a_password_with_any_reserved_character_is_masked_whole(char: str) -> None:
    password = f"pa{char}ss{char}wd"
    # a space or quote written as it is ends a URL inside text: the configured password itself is
    # masked for those (test_logs); by shape, only their percent-encoded form is a URL
    forms = [quote(password, safe="")] + ([] if char in " '" else [password])
    for written in forms:
        url = f"rtsp://admin:{written}@192.168.1.20:554/live"
        shown = camera_url.mask(f"cannot open {url} now")
        assert shown == "cannot open rtsp://admin:***@192.168.1.20:554/live now"


def test_the_issue_example_is_masked_whole() -> None:
    assert camera_url.mask("rtsp://admin:p@ss/w@host") == "rtsp://admin:***@host"


def test_secrets_are_the_password_as_written_and_decoded() -> None:
    assert camera_url.secrets("rtsp://admin:p%40ss%2Fw@host/x") == ("p%40ss%2Fw", "p@ss/w")
    assert camera_url.secrets("rtsp://admin:p@ss@host/x") == ("p@ss",)
    assert camera_url.secrets("rtsp://admin@host/x") == ()
    assert camera_url.secrets("rtsp://admin:abc@host/x") == ()  # too short to mask everywhere


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("rtsp://admin:p/ss@host/x", True),
        ("rtsp://admin:p#ss@host/x", True),
        ("rtsp://admin:p?ss@host/x", True),
        ("rtsp://admin:p%2Fss@host/x", False),
        ("rtsp://admin:p@ss:w@host/x", False),  # FFmpeg takes the last '@' before the path: fine
        ("rtsp://cam:554/path@2", False),
        ("rtsp://cam/path@2", False),
    ],
)
def test_passwords_ffmpeg_would_split_need_percent_encoding(url: str, problem: bool) -> None:
    assert (camera_url.ffmpeg_authority_problem(url) is not None) == problem


def test_scheme_of() -> None:
    assert camera_url.scheme_of("demo") == "demo"
    assert camera_url.scheme_of("RTSP://cam/x") == "rtsp"
    assert camera_url.scheme_of("/videos/a.mp4") == "file"


def test_endpoint_defaults_ports() -> None:
    assert camera_url.endpoint("rtsp://u:p@cam/x") == camera_url.Endpoint("cam", 554)
    assert camera_url.endpoint("http://cam:8080/x") == camera_url.Endpoint("cam", 8080)
    assert camera_url.endpoint("https://cam/x") == camera_url.Endpoint("cam", 443)
    assert camera_url.endpoint("demo") is None
    assert camera_url.endpoint("rtsp://cam:99999/x") is None


def test_the_issue_example_needs_percent_encoding() -> None:
    assert camera_url.ffmpeg_authority_problem("rtsp://admin:p@ss/w@host") is not None
    assert camera_url.ffmpeg_authority_problem("rtsp://admin:p@ss/w#:rd@127.0.0.1:8554/stream") is not None
