"""A phone or laptop as a camera: the page it opens (its camera, size and rate chosen there), the
WebSocket its browser streams MediaRecorder chunks to, and one-time pairing links.

The page works in a secure context only (HTTPS, or localhost): browsers give getUserMedia nothing
else, and the page says so.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import quote

import segno
from aiohttp import WSMsgType, web

from vcam import browser
from vcam.web import security
from vcam.web.html import button_form, h, page
from vcam.web.site import SITE, Site

HELLO_TIMEOUT_S = 10.0


def browser_cameras(site: Site) -> list[str]:
    return [name for name, camera in site.cameras.items() if camera.browser]


def _stall_timeout(site: Site, camera: str) -> float:
    return next(c.stall_timeout for c in site.settings.enabled if c.name == camera)


async def new_link(request: web.Request) -> web.Response:
    """An admin makes a pairing link for a browser camera: it works once, for 10 minutes."""
    site = request.app[SITE]
    camera = request.match_info["camera"]
    if camera not in browser_cameras(site):
        raise web.HTTPNotFound(text=f"{camera!r} is no browser camera (its url must be 'browser')\n")
    token, expires = site.pairings.issue(camera, time.time())
    user = security.user_of(request)
    await asyncio.to_thread(site.accounts.record, "pair", user=user.name, address=request["address"], detail=camera)
    scheme = "https" if security.is_https(request, site.settings.web.trusted_proxies) else "http"
    link = f"{scheme}://{request.host}/pair/{token}"
    qr = segno.make(link, error="m").svg_inline(scale=5, dark="#000", light="#fff")  # attributes only: the CSP holds
    body = f"""<p>Scan this code with the phone that is to be the camera <b>{h(camera)}</b>, or open the
link on it (send it to yourself). It works once, until {h(time.strftime("%H:%M", time.localtime(expires)))}.</p>
<p class="qr">{qr}</p>
<p><code class="token">{h(link)}</code></p>
<p>A device paired before to {h(camera)} is forgotten when this one opens the link.</p>"""
    if scheme != "https":
        body += '<p class="problem">Over plain HTTP a phone gives no camera: set WEB_CERT=self-signed (see README).</p>'
    return web.Response(
        text=page(f"Pair a device to {camera}", body, security.session_of(request)), content_type="text/html"
    )


async def pair(request: web.Request) -> web.StreamResponse:
    """The pairing link: once, it gives this browser a device cookie bound to the camera."""
    site = request.app[SITE]
    camera = site.pairings.redeem(request.match_info["token"], time.time())
    if camera is None:
        site.log.warning("pairing_refused", address=request["address"])
        text = "This pairing link was used already or has expired: ask for a new one in the web UI.\n"
        return web.Response(status=403, text=text)
    token = await asyncio.to_thread(site.accounts.pair_device, camera)
    await asyncio.to_thread(site.accounts.record, "paired", user=None, address=request["address"], detail=camera)
    site.log.info("device_paired", camera=camera, address=request["address"])
    response = web.HTTPSeeOther(f"/cameras/add-this-device?camera={quote(camera)}")
    trusted = site.settings.web.trusted_proxies
    security.give_cookie(response, request, security.DEVICE_COOKIE, token, max_age=10 * 365 * 86400, trusted=trusted)
    raise response


async def device_page(request: web.Request) -> web.Response:
    site = request.app[SITE]
    device: str | None = request.get("device")
    choices = [device] if device else browser_cameras(site)
    camera = request.query.get("camera") or (choices[0] if len(choices) == 1 else "")
    session = security.session_of(request)
    if camera not in choices:
        links = "".join(
            f'<li>{h(c)}: <a href="?camera={quote(c)}">use this device</a> '
            f"{button_form(f'/cameras/{quote(c)}/pair', 'Pair another device', session)}</li>"
            for c in choices
        )
        said = f"<ul>{links}</ul>" if choices else '<p>No camera has url = "browser" in the settings.</p>'
        return web.Response(text=page("Use a device as a camera", said, session), content_type="text/html")
    body = f"""<div id="device" data-camera="{h(camera)}" data-feed="/cameras/{quote(camera)}/feed">
<p id="secure" class="problem" hidden>This page needs a secure connection for the camera: open it over
<b>https://</b> (WEB_CERT=self-signed, see README), or on the machine running vcam as http://localhost.</p>
<video id="preview" autoplay muted playsinline></video>
<div class="stack">
<label>Camera <select id="source"><option value="environment">back</option><option value="user">front</option></select></label>
<label>Size <select id="size"><option value="1280x720">1280x720</option><option value="640x480">640x480</option>
<option value="640x360" selected>640x360</option></select></label>
<label>Pictures a second <select id="rate"><option>10</option><option selected>15</option><option>25</option></select></label>
<button id="start" type="button">Start streaming</button> <button id="stop" type="button" hidden>Stop</button>
</div>
<p id="status">Not streaming.</p></div><script src="/static/device.js" defer></script>"""
    return web.Response(text=page(f"{camera}: this device's camera", body, session), content_type="text/html")


async def feed(request: web.Request) -> web.StreamResponse:
    """The device's stream: a text hello (the MediaRecorder type), then its chunks, binary."""
    site = request.app[SITE]
    camera = request.match_info["camera"]
    if camera not in browser_cameras(site):
        raise web.HTTPNotFound(text="no such browser camera\n")
    if not security.same_origin(request):
        raise web.HTTPForbidden(text="a stream from another site's page\n")
    ws = web.WebSocketResponse(max_msg_size=browser.MAX_CHUNK_BYTES, heartbeat=10.0)
    await ws.prepare(request)
    try:
        hello = await ws.receive(timeout=HELLO_TIMEOUT_S)
    except TimeoutError:
        await ws.close(code=4000, message=b"no hello")
        return ws
    mime = str(json.loads(hello.data).get("type", "")) if hello.type == WSMsgType.TEXT else ""
    if browser.container_of(mime) is None:
        await ws.send_json({"error": f"cannot read {mime or 'that'}: one of {', '.join(browser.FORMATS)}"})
        await ws.close(code=4001)
        return ws
    claimed = browser.FEEDS.claim(camera, mime, _stall_timeout(site, camera))
    if claimed is None:
        site.log.warning("device_refused", camera=camera, address=request["address"], why="another device streams")
        await ws.send_json({"error": "another device is streaming to this camera"})
        await ws.close(code=4009)
        return ws
    site.log.info("device_streaming", camera=camera, address=request["address"], type=mime)
    await ws.send_json({"ok": True})
    why = "its page was closed, or its network lost"
    try:
        async for message in ws:
            if message.type == WSMsgType.BINARY:
                if not claimed.write(message.data):
                    why = claimed.why or "refused"
                    await ws.send_json({"error": why})
                    break
            elif message.type == WSMsgType.ERROR:
                break
    finally:
        browser.FEEDS.release(claimed, why)
        site.log.info("device_left", camera=camera, received_bytes=claimed.received, why=why)
    await ws.close()
    return ws
