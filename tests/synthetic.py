"""Synthetic scenes with known answers for the motion detector: textured, noisy, lit as asked."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import cv2
import numpy as np

from vcam.frames import Frame

WIDTH, HEIGHT, FPS = 320, 240, 10


def scene(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(40, 200, (HEIGHT, WIDTH)).astype(np.uint8), (0, 0), 3)
    cv2.rectangle(base, (40, 150), (140, 230), 60, -1)  # a wall
    cv2.rectangle(base, (200, 40), (300, 120), 170, -1)  # a window
    return base


def frames(
    seconds: float,
    *,
    gain: Callable[[float], float] = lambda t: 1.0,
    offset: Callable[[float], float] = lambda t: 0.0,
    object_at: Callable[[float], tuple[int, int] | None] = lambda t: None,
    noise: float = 3.0,
    size: int = 24,
    seed: int = 5,
) -> Iterator[Frame]:
    """BGR frames at FPS: the scene x gain(t) + offset(t), a dark square at object_at(t), sensor noise."""
    base = scene().astype(np.float32)
    rng = np.random.default_rng(seed)
    for index in range(int(seconds * FPS)):
        t = index / FPS
        picture = base.copy()
        where = object_at(t)
        if where is not None:
            x, y = where
            picture[y : y + size, x : x + size] = 25.0
        picture = picture * gain(t) + offset(t) + rng.normal(0, noise, picture.shape).astype(np.float32)
        gray = np.clip(picture, 0, 255).astype(np.uint8)
        yield Frame(t, 1_700_000_000 + t, WIDTH, HEIGHT, image=cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), index=index)


def crossing(start: float, duration: float, y: int = 100) -> Callable[[float], tuple[int, int] | None]:
    """A square moving left to right across the picture between start and start + duration."""

    def where(t: float) -> tuple[int, int] | None:
        if not start <= t < start + duration:
            return None
        return int(-24 + (t - start) / duration * (WIDTH + 24)), y

    return where


def step(at: float, before: float, after: float) -> Callable[[float], float]:
    return lambda t: before if t < at else after
