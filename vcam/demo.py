"""The built-in demo camera: a synthetic street scene where something crosses now and then.

Lets a newcomer see the daemon work with no camera at all (RTSP_URL=demo or --demo).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from fractions import Fraction

import av
import cv2
import numpy as np

from vcam.config import MotionSettings
from vcam.decoding import IdleDecoding
from vcam.errors import ENDED, SourceError
from vcam.frames import AudioTrack, Chunk, Frame, StreamInfo, StreamTemplate, parameter_sets

WIDTH, HEIGHT, FPS = 640, 360, 10
CYCLE_S = 20.0  # one crossing starts every CYCLE_S seconds …
CROSSING_S = 6.0  # … and takes this long


def background(seed: int = 7) -> np.ndarray:
    """A still scene: sky, a road, a house and a tree; textured so a detector has something to chew on."""
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    sky = np.linspace(200, 140, HEIGHT // 2, dtype=np.float32)
    img[: HEIGHT // 2] = np.stack([sky + 30, sky + 10, sky - 20], axis=-1)[:, None, :].astype(np.uint8)
    img[HEIGHT // 2 :] = (70, 110, 80)
    cv2.rectangle(img, (0, 250), (WIDTH, 320), (90, 90, 90), -1)
    cv2.rectangle(img, (60, 110), (220, 250), (60, 80, 160), -1)
    cv2.fillConvexPoly(img, np.array([[50, 110], [140, 50], [230, 110]]), (40, 40, 110))
    cv2.rectangle(img, (120, 180), (160, 250), (40, 50, 70), -1)
    cv2.rectangle(img, (470, 120), (490, 250), (30, 60, 90), -1)
    cv2.circle(img, (480, 110), 50, (40, 120, 50), -1)
    rng = np.random.default_rng(seed)
    texture = rng.normal(0, 6, img.shape).astype(np.int16)
    scene: np.ndarray = np.clip(img.astype(np.int16) + texture, 0, 255).astype(np.uint8)
    return scene


def draw(scene: np.ndarray, t: float, noise: np.ndarray) -> np.ndarray:
    """The picture at ``t`` seconds: the scene, sensor noise, and a car crossing during each cycle's start."""
    img = cv2.add(scene, noise)
    phase = t % CYCLE_S
    if phase < CROSSING_S:
        leftward = int(t // CYCLE_S) % 2 == 1
        progress = phase / CROSSING_S
        x = int(-120 + progress * (WIDTH + 120))
        if leftward:
            x = WIDTH - x - 120
        cv2.rectangle(img, (x, 262), (x + 120, 300), (30, 30, 200), -1)
        cv2.rectangle(img, (x + 25, 240), (x + 95, 265), (40, 40, 170), -1)
        for wheel in (x + 25, x + 95):
            cv2.circle(img, (wheel, 302), 11, (20, 20, 20), -1)
    return img


def demo_pictures() -> Iterator[np.ndarray]:
    scene = background()
    rng = np.random.default_rng(11)
    noise = [rng.integers(0, 4, scene.shape, dtype=np.uint8) for _ in range(8)]
    index = 0
    while True:
        yield draw(scene, index / FPS, noise[index % len(noise)])
        index += 1


class SyntheticConnection(IdleDecoding):
    """Pictures made in Python, served as a live H.264 camera: encoded, decoded and paced, so they
    take exactly the path a real camera's stream takes (detection, stream copy, encoding).

    ``speed`` > 1 plays faster than real time (tests); 0 does not pace at all.
    """

    def __init__(
        self,
        pictures: Iterable[np.ndarray],
        width: int,
        height: int,
        fps: int,
        *,
        speed: float = 1.0,
        motion: MotionSettings | None = None,
    ) -> None:
        self.pictures = pictures
        self.fps = fps
        self.speed = speed
        self.info = StreamInfo("h264", width, height, float(fps))
        self.lagging = False
        self.decoding = True
        self.time_base = Fraction(1, fps)
        self.audio: AudioTrack | None = None  # a made-up scene is silent
        self.encoder = self._encoder(width, height)
        # a copied stream needs its SPS and PPS in the file's header: those of a first picture
        # (the same settings give the same parameter sets)
        probe = self._encoder(width, height)
        first = av.VideoFrame(width, height, "yuv420p")
        first.pts = 0
        packets = [*probe.encode(first), *probe.encode(None)]
        sets = parameter_sets("h264", bytes(packets[0])) if packets else None
        self.template: StreamTemplate | None = StreamTemplate(
            "h264", self.time_base, None, width, height, parameter_sets=sets
        )
        motion = motion or MotionSettings()
        context = av.CodecContext.create("h264", "r")
        assert isinstance(context, av.VideoCodecContext)
        self._decode_with(context, motion)

    def _encoder(self, width: int, height: int) -> av.VideoCodecContext:
        encoder = av.CodecContext.create("libx264", "w")
        assert isinstance(encoder, av.VideoCodecContext)
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        encoder.time_base = self.time_base
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(2 * self.fps), "threads": "1"}
        return encoder

    def chunks(self) -> Iterator[Chunk]:
        started = time.monotonic()
        for index, picture in enumerate(self.pictures):
            t = index / self.fps
            wait = started + t / self.speed - time.monotonic() if self.speed else 0.0
            if wait > 0:
                time.sleep(wait)
            planes = np.asarray(cv2.cvtColor(picture, cv2.COLOR_BGR2YUV_I420), np.uint8)
            source = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            source.pts = index
            for packet in self.encoder.encode(source):
                packet.time_base = self.time_base
                assert packet.pts is not None
                pt = packet.pts / self.fps
                decoded = tuple(
                    Frame(pt, time.time(), video.width, video.height, video=video, index=int(packet.pts))
                    for video in (self.decoder.decode(packet, pt) if self.decoding else [])
                )
                yield Chunk(packet, pt, packet.is_keyframe, decoded, time.time())
        raise SourceError(ENDED, "the synthetic stream ended")

    def close(self) -> None:
        pass


def demo_connection(motion: MotionSettings | None = None) -> SyntheticConnection:
    """The built-in demo camera (RTSP_URL=demo)."""
    return SyntheticConnection(demo_pictures(), WIDTH, HEIGHT, FPS, motion=motion)
