"""The built-in demo camera: a synthetic street scene where something crosses now and then.

Lets a newcomer see the daemon work with no camera at all (RTSP_URL=demo or --demo).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import cv2
import numpy as np

from vcam.frames import Frame, StreamInfo

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


class DemoConnection:
    """Frames of the demo scene, paced to real time like a live camera."""

    def __init__(self) -> None:
        self.info = StreamInfo("demo", WIDTH, HEIGHT, float(FPS))
        self.lagging = False
        self.scene = background()
        rng = np.random.default_rng(11)
        self.noise = [rng.integers(0, 4, self.scene.shape, dtype=np.uint8) for _ in range(8)]

    def frames(self) -> Iterator[Frame]:
        started = time.monotonic()
        index = 0
        while True:
            t = index / FPS
            wait = started + t - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            image = draw(self.scene, t, self.noise[index % len(self.noise)])
            yield Frame(t, time.time(), WIDTH, HEIGHT, image=image, index=index)
            index += 1

    def close(self) -> None:
        pass
