"""Live views (MJPEG), the newest picture of a camera, and stored files (with HTTP Range, so a
browser seeks in a clip without downloading it)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from aiohttp import web

from vcam.web import security
from vcam.web.site import SITE, Camera, newest_snapshot

BOUNDARY = "vcamframe"
WRITE_TIMEOUT_S = 10.0  # a viewer that takes no picture for this long is let go
STILL_EVERY_S = 5.0  # while the camera gives no picture: its newest snapshot, this often
NO_PICTURE_S = 2.0  # no live picture for this long: show the newest snapshot


class Encoder:
    """One JPEG per picture, whatever the number of viewers: the first viewer to ask makes it in a
    worker thread, the others wait for that one."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    async def jpeg(self, camera: Camera) -> tuple[int, bytes] | None:
        lock = self._locks.setdefault(camera.name, asyncio.Lock())
        async with lock:
            return await asyncio.to_thread(camera.live.jpeg)


ENCODER = web.AppKey("encoder", Encoder)
CLOSING = web.AppKey("closing", asyncio.Event)  # set at stop: live views end at once


async def closing(app: web.Application) -> None:
    app[CLOSING].set()


async def live(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    camera = site.camera(request.match_info["camera"])
    encoder = request.app[ENCODER]
    response = web.StreamResponse(
        headers={
            "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: pass pictures on as they come
        }
    )
    await response.prepare(request)
    camera.live.watch()
    sent, still_at = 0, 0.0
    last_picture = time.monotonic()
    step = min(0.5, 1 / camera.live.fps) if camera.live.fps > 0 else 0.5
    stopping = request.app[CLOSING]
    try:
        while not stopping.is_set():
            picture = None
            if camera.live.version > sent:
                picture = await encoder.jpeg(camera)
            if picture is not None and picture[0] > sent:
                sent, data = picture
                last_picture = time.monotonic()
            elif time.monotonic() - last_picture > NO_PICTURE_S and time.monotonic() - still_at > STILL_EVERY_S:
                still_at = time.monotonic()
                path = await asyncio.to_thread(newest_snapshot, site.video_dir, camera.name)
                data = await asyncio.to_thread(_read, path) if path is not None else b""
                if not data:
                    await asyncio.sleep(step)
                    continue
            else:
                await asyncio.sleep(step)
                continue
            part = (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                + data
                + b"\r\n"
            )
            await asyncio.wait_for(response.write(part), WRITE_TIMEOUT_S)
    except (ConnectionResetError, TimeoutError):  # the viewer left, or stopped taking pictures
        pass
    finally:
        camera.live.unwatch()
    return response


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


async def latest(request: web.Request) -> web.StreamResponse:
    """The newest live picture if someone watches, else the newest snapshot on disk."""
    site = request.app[SITE]
    camera = site.camera(request.match_info["camera"])
    picture = await request.app[ENCODER].jpeg(camera) if camera.live.watched else None
    if picture is not None:
        return web.Response(body=picture[1], content_type="image/jpeg", headers={"Cache-Control": "no-store"})
    path = await asyncio.to_thread(newest_snapshot, site.video_dir, camera.name)
    if path is None:
        raise web.HTTPNotFound(text="no picture yet\n")
    return web.FileResponse(path, headers={"Cache-Control": "no-store"})


async def stored(request: web.Request) -> web.StreamResponse:
    """A clip or snapshot under VIDEO_DIR; ``?download=1`` saves it instead of showing it."""
    site = request.app[SITE]
    path = await asyncio.to_thread(security.safe_file, site.video_dir, request.match_info["path"])
    if path is None:
        raise web.HTTPNotFound(text="no such file\n")
    headers = {"Cache-Control": "private, max-age=3600"}
    if request.query.get("download"):
        headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
        user = request["user"]
        with contextlib.suppress(Exception):  # the log of who took what must not stop the download
            await asyncio.to_thread(
                site.accounts.record, "download", user=user.name, address=request["address"], detail=site.relative(path)
            )
    kind = "video/mp4" if path.suffix == ".mp4" else "image/jpeg"
    return web.FileResponse(path, headers={**headers, "Content-Type": kind})
