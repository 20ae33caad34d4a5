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
