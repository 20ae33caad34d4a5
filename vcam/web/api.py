"""The JSON API under /api, behind the same login as the pages (or an API token:
``Authorization: Bearer TOKEN``), described by an OpenAPI document at /api/openapi.json.
Times are epoch seconds; paths are relative to VIDEO_DIR, fetched at /files/<path>."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from vcam import __version__, footage
from vcam.eventlog import ClipRow, EventRow, SegmentRow
from vcam.live import SWITCHES
from vcam.web import security
from vcam.web.pages import event_filters, record_now, remove_clip
from vcam.web.site import SITE, Site, camera_state, storage_summary

MAX_BODY = 4096


def answer(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers={"Cache-Control": "no-store"})


def problem(status: int, text: str) -> web.Response:
    return answer({"error": text}, status)


def _event(site: Site, e: EventRow) -> dict[str, Any]:
    snapshot = site.relative(e.snapshot) if e.snapshot else None
    duration = None if e.end is None else round(e.end - e.start, 2)
    return {
        "id": e.id,
        "camera": e.camera,
        "start": e.start,
        "end": e.end,
        "duration": duration,
        "peak_area": e.peak_area,
        "snapshot": snapshot,
    }


def _clip(site: Site, c: ClipRow) -> dict[str, Any]:
    return {
        "id": c.id,
        "camera": c.camera,
        "path": site.relative(c.path),
        "start": c.start,
        "duration": c.duration,
        "size": c.size,
        "mode": c.mode,
        "partial": c.partial,
        "event_id": c.event_id,
    }


async def cameras(request: web.Request) -> web.Response:
    site = request.app[SITE]
    return answer([await asyncio.to_thread(camera_state, site, name) for name in site.cameras])


async def events(request: web.Request) -> web.Response:
    site = request.app[SITE]
    filters = event_filters(request.query)
    limit = _limit(request)
    rows = await asyncio.to_thread(site.events.events, newest=limit, **filters)
    return answer([_event(site, e) for e in rows])


async def event(request: web.Request) -> web.Response:
    site = request.app[SITE]
    found = await asyncio.to_thread(site.events.event, _id(request, "event"))
    if found is None:
        return problem(404, "no such event")
    clips = await asyncio.to_thread(site.events.clips_covering, found)
    return answer({**_event(site, found), "clips": [_clip(site, c) for c in clips]})


async def clips(request: web.Request) -> web.Response:
    site = request.app[SITE]
    filters = event_filters(request.query)
    filters.pop("min_duration", None)
    rows = await asyncio.to_thread(site.events.clips, **filters)
    return answer([_clip(site, c) for c in reversed(rows)][: _limit(request)])


SEGMENT_WINDOW_S = 25 * 3600.0  # a day, even one with a DST change: more is asked for in parts
SEGMENT_DEFAULT_S = 3600.0


def _segment(site: Site, s: SegmentRow) -> dict[str, Any]:
    return {
        "id": s.id,
        "path": site.relative(s.path),
        "start": s.start,
        "end": s.end,
        "size": s.size,
        "motion": s.motion,
        "partial": s.partial,
    }


async def segments(request: web.Request) -> web.Response:
    """A camera's continuous segments from ``since`` to ``until`` (the last hour if not said), what
    they show joined up, and the gaps (up to now: the future is not a gap)."""
    site = request.app[SITE]
    name = request.match_info["camera"]
    site.camera(name)
    filters = event_filters(request.query)
    now = time.time()
    until = filters.get("until", now)
    since = filters.get("since", until - SEGMENT_DEFAULT_S)
    if not 0 < until - since <= SEGMENT_WINDOW_S:
        return problem(400, f"since..until: after one another, at most {SEGMENT_WINDOW_S / 3600:.0f} hours apart")
    rows = await asyncio.to_thread(site.events.segments, name, since, until)
    covered = footage.cover(rows, since, max(since, min(until, now)))
    return answer(
        {
            "camera": name,
            "since": since,
            "until": until,
            "segments": [_segment(site, r) for r in rows],
            "recorded": covered.recorded,
            "gaps": covered.gaps,
        }
    )


async def delete_clip(request: web.Request) -> web.Response:
    site = request.app[SITE]
    user = security.user_of(request)
    removed = await asyncio.to_thread(remove_clip, site, _id(request, "clip"), user, request["address"])
    if removed is None:
        return problem(404, "no such clip")
    return answer({"deleted": removed})


async def record(request: web.Request) -> web.Response:
    site = request.app[SITE]
    user = security.user_of(request)
    name = request.match_info["camera"]
    started = await asyncio.to_thread(record_now, site, name, user, request["address"])
    return answer({"camera": name, "recording": started}, 202)


async def set_switch(request: web.Request) -> web.Response:
    site = request.app[SITE]
    user = security.user_of(request)
    name, which = request.match_info["camera"], request.match_info["switch"]
    site.camera(name)
    if which not in SWITCHES:
        return problem(404, f"no switch {which!r}: one of {', '.join(SWITCHES)}")
    body = await _json(request)
    if not isinstance(body, dict) or not isinstance(body.get("on"), bool):
        return problem(400, 'a JSON body {"on": true} or {"on": false}')
    await asyncio.to_thread(site.set_switch, name, which, body["on"], user.name, request["address"])
    return answer({"camera": name, "switch": which, "on": body["on"]})


async def storage(request: web.Request) -> web.Response:
    site = request.app[SITE]
    summary = await asyncio.to_thread(storage_summary, site.settings)
    return answer(
        {
            "used": summary.used,
            "free": summary.free,
            "cameras": summary.by_camera,
            "days": summary.by_day,
            "hours": summary.by_hour,
            "next_deletions": [
                {"path": path, "reason": reason, "at": at, "size": count}
                for path, reason, at, count in summary.next_deletions
            ],
            "shortfall": summary.shortfall,
        }
    )


async def settings(request: web.Request) -> web.Response:
    site = request.app[SITE]
    return answer(dict(site.settings.describe()))


async def openapi(request: web.Request) -> web.Response:
    return answer(OPENAPI)


def _id(request: web.Request, key: str) -> int:
    text = request.match_info[key]
    if not text.isdigit():
        raise web.HTTPNotFound(text=json.dumps({"error": f"no such {key}"}), content_type="application/json")
    return int(text)


def _limit(request: web.Request) -> int:
    try:
        return max(1, min(1000, int(request.query.get("limit", "100"))))
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "limit: a number"}), content_type="application/json"
        ) from None


async def _json(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    try:
        return json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text=json.dumps({"error": "not JSON"}), content_type="application/json") from None


# (method, path, handler, summary, admin only)
ROUTES: tuple[tuple[str, str, Any, str, bool], ...] = (
    ("GET", "/api/cameras", cameras, "Every camera: state, pictures a second, last event and clip, switches", False),
    (
        "GET",
        "/api/events",
        events,
        "Motion events, newest first (camera, day, since, until, min_duration, limit)",
        False,
    ),
    ("GET", "/api/events/{event}", event, "One event and the clips that show it", False),
    ("GET", "/api/clips", clips, "Clips, newest first (camera, day, since, until, limit)", False),
    (
        "GET",
        "/api/cameras/{camera}/segments",
        segments,
        "Continuous segments, oldest first, with what they show and the gaps (day, or since and until)",
        False,
    ),
    ("DELETE", "/api/clips/{clip}", delete_clip, "Delete a clip, with its event's snapshot and rows", True),
    ("POST", "/api/cameras/{camera}/record", record, "Record a clip now (as if motion were seen)", True),
    (
        "PUT",
        "/api/cameras/{camera}/switches/{switch}",
        set_switch,
        'Turn detect, record or snapshots on or off: {"on": true}',
        True,
    ),
    ("GET", "/api/storage", storage, "Space used per camera, day and hour; free space; what is deleted next", False),
    ("GET", "/api/settings", settings, "The settings as read at start, passwords masked", False),
    ("GET", "/api/openapi.json", openapi, "This document", False),
)


def _openapi() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, path, _, summary, admin in ROUTES:
        parameters = [
            {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for part in path.split("/")
            if part.startswith("{")
        ]
        responses: dict[str, Any] = {"200": {"description": "OK"}, "401": {"description": "no session or token"}}
        if admin:
            responses["403"] = {"description": "a viewer may not"}
        operation: dict[str, Any] = {"summary": summary, "parameters": parameters, "responses": responses}
        if method == "PUT":
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": {"on": {"type": "boolean"}}, "required": ["on"]}
                    }
                },
            }
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "vcam", "version": __version__},
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": security.COOKIE},
            }
        },
        "security": [{"token": []}, {"session": []}],
        "paths": paths,
    }


OPENAPI = _openapi()
