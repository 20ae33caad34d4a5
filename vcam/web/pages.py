"""The pages a person uses: cameras, events, clips, storage, settings, snapshots, the access log
and users. Reading the database or the disk happens in a worker thread, never on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from vcam import footage, layout
from vcam.eventlog import ClipRow, EventRow
from vcam.live import SWITCHES
from vcam.web import auth, security
from vcam.web.accounts import AccountError, Session, User
from vcam.web.html import HERE, button_form, clock, csrf_field, h, page, seconds, size, table, url, when
from vcam.web.site import SITE, Site, camera_state, storage_summary

EVENTS_SHOWN = 100


def site_of(request: web.Request) -> Site:
    return request.app[SITE]


def session(request: web.Request) -> Session | None:
    return security.session_of(request)


def html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", headers={"Cache-Control": "no-store"})


# --- log in and out --------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    return html(_login_form(request.query.get("next", "/"), ""))


def _login_form(target: str, problem: str) -> str:
    said = f'<p class="problem">{h(problem)}</p>' if problem else ""
    return page(
        "Log in",
        f"""{said}<form method="post" action="/login" class="stack">
<input type="hidden" name="next" value="{h(target)}">
<label>User <input name="user" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button></form>""",
        None,
    )


def _local(target: str) -> str:
    """Where to go after the login: a path of ours only (no //host, no scheme)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def login(request: web.Request) -> web.StreamResponse:
    site = site_of(request)
    address: str = request["address"]
    form = await request.post()
    name, password = str(form.get("user", "")), str(form.get("password", ""))
    target = _local(str(form.get("next", "/")))
    if not security.same_origin(request):
        raise web.HTTPForbidden(text="a login from another site's page\n")
    wait = site.limiter.wait(address, time.monotonic())
    if wait > 0:
        site.log.warning("login_refused", user=name, address=address, retry_after_s=round(wait))
        await asyncio.to_thread(
            site.accounts.record, "login", user=name, address=address, detail="rate limited", ok=False
        )
        return html(_login_form(target, f"Too many failed logins. Try again in {wait:.0f} s."), 429)
    user = await asyncio.to_thread(site.accounts.check_password, name, password)
    if user is None:
        site.limiter.failed(address, time.monotonic())
        site.log.warning("login_failed", user=name, address=address)
        await asyncio.to_thread(site.accounts.record, "login", user=name, address=address, ok=False)
        return html(_login_form(target, "Wrong user or password."), 401)
    site.limiter.succeeded(address)
    token, _ = await asyncio.to_thread(site.accounts.new_session, user)
    site.log.info("login", user=user.name, address=address)
    await asyncio.to_thread(site.accounts.record, "login", user=user.name, address=address)
    response = web.HTTPSeeOther(target)
    trusted = site.settings.web.trusted_proxies
    security.give_cookie(response, request, security.COOKIE, token, max_age=security.COOKIE_MAX_AGE, trusted=trusted)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    site = site_of(request)
    current = session(request)
    if current is not None:
        await asyncio.to_thread(site.accounts.end_session, current.digest)
        await asyncio.to_thread(site.accounts.record, "logout", user=current.user.name, address=request["address"])
    response = web.HTTPSeeOther("/login")
    response.del_cookie(security.COOKIE, path="/")
    raise response


# --- cameras -----------------------------------------------------------------------------------


async def cameras(request: web.Request) -> web.Response:
    site = site_of(request)
    cards = []
    for name in site.cameras:
        state = await asyncio.to_thread(camera_state, site, name)
        cards.append(
            f"""<a class="card" href="/cameras/{quote(name)}">
<img class="live" src="/cameras/{quote(name)}/live.mjpeg" alt="{h(name)} live" data-still="/cameras/{quote(name)}/latest.jpg">
<span class="name">{h(name)}</span> <span class="state" data-camera="{h(name)}">{h(state["summary"])}</span></a>"""
        )
    body = f'<div class="grid">{"".join(cards)}</div>' if cards else "<p>No camera is enabled.</p>"
    return html(page("Cameras", body, session(request), here="/"))


async def camera(request: web.Request) -> web.Response:
    site = site_of(request)
    name = request.match_info["camera"]
    site.camera(name)
    state = await asyncio.to_thread(camera_state, site, name)
    current = session(request)
    assert current is not None
    facts = [
        ("State", state["summary"]),
        ("Pictures a second", f"{state['fps']:.1f} in, {state['fps_analysed']:.1f} analysed"),
        ("Recording", "yes" if state["recording"] else "no"),
        ("Last event", when(state["last_event"]) if state["last_event"] else "none yet"),
        ("Last clip", state["last_clip"] or "none yet"),
    ]
    rows = "".join(f"<tr><th>{h(k)}</th><td>{h(v)}</td></tr>" for k, v in facts)
    actions = ""
    if current.user.admin:
        switches = "".join(
            button_form(
                f"/cameras/{quote(name)}/switches",
                f"{switch}: {'on' if state['switches'][switch] else 'off'} — turn {'off' if state['switches'][switch] else 'on'}",
                current,
                extra=f'<input type="hidden" name="switch" value="{switch}">'
                f'<input type="hidden" name="on" value="{"off" if state["switches"][switch] else "on"}">',
            )
            for switch in SWITCHES
        )
        actions = f"""<h2>Do</h2><p>{button_form(f"/cameras/{quote(name)}/record", "Record a clip now", current)}</p>
<p class="switches">{switches}</p>"""
        if state["browser"]:
            actions += f"""<p>A browser camera: {button_form(f"/cameras/{quote(name)}/pair", "Pair a phone or laptop", current)}
or <a href="/cameras/add-this-device?camera={quote(name)}">use this device's camera</a>.</p>"""
    else:
        said = ", ".join(f"{s} {'on' if state['switches'][s] else 'off'}" for s in SWITCHES)
        actions = f"<p>{h(said)}</p>"
    body = f"""<img class="live big" src="/cameras/{quote(name)}/live.mjpeg" alt="{h(name)} live" data-still="/cameras/{quote(name)}/latest.jpg">
<table class="facts">{rows}</table>{actions}
<p><a href="/events?{urlencode({"camera": name})}">Events</a> · <a href="/cameras/{quote(name)}/timeline">Timeline</a>
· <a href="/snapshots/{quote(name)}">Snapshots</a></p>"""
    return html(page(name, body, current))


async def record(request: web.Request) -> web.StreamResponse:
    site = site_of(request)
    user = security.user_of(request)
    name = request.match_info["camera"]
    await asyncio.to_thread(record_now, site, name, user, request["address"])
    raise web.HTTPSeeOther(f"/cameras/{quote(name)}")


def record_now(site: Site, name: str, user: User, address: str) -> bool:
    """A clip on demand (from a page or the API), logged with who asked; False if none started."""
    started = site.camera(name).record()
    site.accounts.record("record", user=user.name, address=address, detail=name)
    site.log.info("record_on_demand", camera=name, user=user.name, started=started)
    return started


async def switch(request: web.Request) -> web.StreamResponse:
    site = site_of(request)
    user = security.user_of(request)
    name = request.match_info["camera"]
    site.camera(name)
    form = await request.post()
    which, value = str(form.get("switch", "")), str(form.get("on", ""))
    if which not in SWITCHES or value not in ("on", "off"):
        raise web.HTTPBadRequest(text=f"switch: one of {', '.join(SWITCHES)}; on: on or off\n")
    await asyncio.to_thread(site.set_switch, name, which, value == "on", user.name, request["address"])
    raise web.HTTPSeeOther(f"/cameras/{quote(name)}")


# --- events and clips --------------------------------------------------------------------------


def event_filters(query: Any) -> dict[str, Any]:
    """camera, day (YYYY-MM-DD), since/until (local date and time, or epoch seconds), min_duration from a query;
    bad values are a 400 that says which."""
    found: dict[str, Any] = {}
    if query.get("camera"):
        found["camera"] = query["camera"]
    if query.get("day"):
        span = footage.day_span(query["day"])
        if span is None:
            raise web.HTTPBadRequest(text="day: YYYY-MM-DD\n")
        found["since"], found["until"] = span[0], span[1] - 0.001
    for key in ("since", "until"):
        if query.get(key):
            found[key] = _moment(key, query[key])
    if query.get("min_duration"):
        try:
            found["min_duration"] = float(query["min_duration"])
        except ValueError:
            raise web.HTTPBadRequest(text="min_duration: seconds\n") from None
    return found


def epoch_seconds(text: str) -> float | None:
    """A moment given as epoch seconds (what the pages' own links and scripts send), else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _moment(key: str, text: str) -> float:
    """A local date and time, or epoch seconds; a 400 that says which otherwise."""
    epoch = epoch_seconds(text)
    if epoch is not None:
        return epoch
    value = text.replace("T", " ")
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        with contextlib.suppress(ValueError):
            return time.mktime(time.strptime(value, pattern))
    raise web.HTTPBadRequest(text=f"{key}: YYYY-MM-DD[ HH:MM[:SS]] or epoch seconds\n")


async def events(request: web.Request) -> web.Response:
    site = site_of(request)
    filters = event_filters(request.query)
    rows: list[EventRow] = await asyncio.to_thread(site.events.events, newest=EVENTS_SHOWN, **filters)
    options = "".join(
        f'<option value="{h(n)}"{" selected" if filters.get("camera") == n else ""}>{h(n)}</option>'
        for n in site.cameras
    )
    q = request.query
    form = f"""<form method="get" action="/events" class="filters">
<label>Camera <select name="camera"><option value="">all</option>{options}</select></label>
<label>Day <input type="date" name="day" value="{h(q.get("day", ""))}"></label>
<label>From <input type="datetime-local" name="since" value="{h(q.get("since", ""))}"></label>
<label>To <input type="datetime-local" name="until" value="{h(q.get("until", ""))}"></label>
<label>At least <input type="number" name="min_duration" min="0" step="0.5" value="{h(q.get("min_duration", ""))}"> s</label>
<button type="submit">Show</button></form>"""
    days: dict[str, list[str]] = {}
    for event in rows:
        thumb = (
            f'<img class="thumb" src="{h(url(site.relative(event.snapshot)))}" alt="" loading="lazy">'
            if event.snapshot
            else '<span class="thumb none">no picture</span>'
        )
        length = seconds(event.end - event.start) if event.end is not None else "going on"
        days.setdefault(layout.day(event.start), []).append(
            f"""<a class="event" href="/events/{event.id}">{thumb}<span>{h(event.camera)} {h(clock(event.start))}
· {h(length)} · {event.peak_area:.1f} %</span></a>"""
        )
    listing = "".join(f'<h2>{h(day)}</h2><div class="events">{"".join(items)}</div>' for day, items in days.items())
    more = (
        f"<p>The newest {EVENTS_SHOWN} are shown: narrow the filter for older ones.</p>"
        if len(rows) == EVENTS_SHOWN
        else ""
    )
    return html(page("Events", form + (listing or "<p>No event.</p>") + more, session(request), here="/events"))


def _player(site: Site, clip: ClipRow, current: Session) -> str:
    link = h(url(site.relative(clip.path)))
    delete = ""
    if current.user.admin:
        delete = button_form(
            f"/clips/{clip.id}/delete", "Delete", current, confirm=f"Delete {Path(clip.path).name} for good?"
        )
    return f"""<figure class="clip"><video controls preload="metadata" playsinline src="{link}"></video>
<figcaption>{h(Path(clip.path).name)} · {h(when(clip.start))} · {h(seconds(clip.duration))} · {h(size(clip.size))}
· <a href="{link}?download=1" download>Download</a> {delete}</figcaption></figure>"""


async def event(request: web.Request) -> web.Response:
    site = site_of(request)
    event_id = _number(request.match_info["event"])
    found = await asyncio.to_thread(site.events.event, event_id)
    if found is None:
        raise web.HTTPNotFound(text="no such event\n")
    clips = await asyncio.to_thread(site.events.clips_covering, found)
    current = session(request)
    assert current is not None
    length = seconds(found.end - found.start) if found.end is not None else "going on"
    picture = f'<img class="still" src="{h(url(site.relative(found.snapshot)))}" alt="">' if found.snapshot else ""
    players = (
        "".join(_player(site, c, current) for c in clips) or "<p>No clip shows it (deleted, or not saved yet).</p>"
    )
    body = f"""<p>{h(found.camera)} · {h(when(found.start))} · {h(length)} · peak {found.peak_area:.1f} % of the picture</p>
{players}{picture}"""
    return html(page(f"Event {found.id}", body, current, here="/events"))


async def clip(request: web.Request) -> web.Response:
    site = site_of(request)
    found = await asyncio.to_thread(site.events.clip, _number(request.match_info["clip"]))
    if found is None:
        raise web.HTTPNotFound(text="no such clip\n")
    current = session(request)
    assert current is not None
    return html(page(Path(found.path).name, _player(site, found, current), current, here="/events"))


def _number(text: str) -> int:
    if not text.isdigit():
        raise web.HTTPNotFound(text="no such item\n")
    return int(text)


async def delete_clip(request: web.Request) -> web.StreamResponse:
    site = site_of(request)
    user = security.user_of(request)
    removed = await asyncio.to_thread(remove_clip, site, _number(request.match_info["clip"]), user, request["address"])
    if removed is None:
        raise web.HTTPNotFound(text="no such clip\n")
    raise web.HTTPSeeOther("/events")


def remove_clip(site: Site, clip_id: int, user: User, address: str) -> list[str] | None:
    """The clip's file, its event's snapshot (when no other clip shows the event) and their rows;
    None when there is no such clip. Logged with who did it."""
    found = site.events.clip(clip_id)
    if found is None:
        return None
    files = [found.path, *site.events.remove_clip(clip_id)]
    removed = []
    for name in files:
        path = Path(name)
        try:
            path.unlink()
            removed.append(site.relative(path))
        except FileNotFoundError:
            pass
        except OSError as exc:
            site.log.error("delete_failed", path=site.relative(path), error=exc.strerror or str(exc))
    site.log.info("clip_deleted", user=user.name, address=address, camera=found.camera, files=",".join(removed))
    site.accounts.record("delete", user=user.name, address=address, detail=site.relative(found.path))
    return removed


# --- storage, settings, snapshots ----------------------------------------------------------------


def _bars(hours: list[int]) -> str:
    """24 hourly bars as SVG (attributes, not inline styles: the CSP allows no inline style)."""
    top = max(hours) or 1
    bars = []
    for hour, count in enumerate(hours):
        height = round(60 * count / top)
        bars.append(
            f'<rect x="{hour * 10 + 1}" y="{60 - height}" width="8" height="{height}">'
            f"<title>{hour:02d}:00 {h(size(count))}</title></rect>"
        )
    labels = "".join(f'<text x="{hour * 10}" y="72">{hour:02d}</text>' for hour in range(0, 24, 6))
    return (
        f'<svg class="bars" viewBox="0 0 240 75" role="img" aria-label="bytes per hour">{"".join(bars)}{labels}</svg>'
    )


async def storage_page(request: web.Request) -> web.Response:
    site = site_of(request)
    summary = await asyncio.to_thread(storage_summary, site.settings)
    policy = site.settings.retention
    head = f"<p>Used {h(size(summary.used))}, free {h(size(summary.free))}"
    if policy.max_storage_bytes:
        head += f", cap {h(size(policy.max_storage_bytes))}"
    if policy.min_free_bytes:
        head += f", kept free {h(size(policy.min_free_bytes))}"
    head += ".</p>"
    if summary.shortfall:
        head += "".join(
            f'<p class="problem">{h(limit)}: {h(size(missing))} short, and nothing more may be deleted</p>'
            for limit, missing in summary.shortfall.items()
        )
    parts = [head]
    for camera, used in sorted(summary.by_camera.items()):
        days = summary.by_day.get(camera, {})
        rows = [[h(day), h(size(count)), _bars(summary.by_hour[camera][day])] for day, count in list(days.items())[:14]]
        parts.append(f"<h2>{h(camera)}: {h(size(used))}</h2>" + table(("Day", "Size", "Per hour"), rows))
    deletions = [
        [h(path), h(reason), h(when(at)), h(size(count))] for path, reason, at, count in summary.next_deletions
    ]
    parts.append(
        "<h2>Deleted next</h2>"
        + (table(("File", "Why", "When", "Size"), deletions) if deletions else "<p>Nothing.</p>")
    )
    return html(page("Storage", "".join(parts), session(request), here="/storage"))


async def settings_page(request: web.Request) -> web.Response:
    site = site_of(request)
    overrides = await asyncio.to_thread(site.accounts.switches)
    rows = [[h(place), h(value)] for place, value in site.settings.describe()]
    switch_rows = []
    for name, cam in site.cameras.items():
        for which in SWITCHES:
            on = cam.controls.get(which)
            source = "set in the UI (overrides the settings file)" if (name, which) in overrides else "settings file"
            switch_rows.append([h(name), h(which), "on" if on else "off", h(source)])
    body = (
        "<h2>Switches</h2>"
        + table(("Camera", "Switch", "Now", "From"), switch_rows)
        + "<h2>Settings</h2><p>As read at start (passwords masked). Change them in .env or vcam.toml.</p>"
        + table(("Setting", "Value"), rows)
    )
    return html(page("Settings", body, session(request), here="/settings"))


async def snapshots(request: web.Request) -> web.Response:
    site = site_of(request)
    name = request.match_info["camera"]
    site.camera(name)
    folder = layout.camera_dir(site.video_dir, name) / layout.SNAPSHOTS

    def read() -> tuple[list[str], list[Path], str]:
        try:
            days = sorted((d.name for d in folder.iterdir() if d.is_dir()), reverse=True)
        except OSError:
            days = []
        day = request.query.get("day") or (days[0] if days else "")
        pictures = sorted(p for p in (folder / day).glob("*.jpg") if not p.name.startswith(".")) if day in days else []
        return days, pictures, day

    days, pictures, day = await asyncio.to_thread(read)
    links = " ".join(f'<a href="?{urlencode({"day": d})}"{HERE if d == day else ""}>{h(d)}</a>' for d in days[:31])
    gallery = "".join(
        f'<a href="{h(url(site.relative(p)))}"><img class="thumb" src="{h(url(site.relative(p)))}" alt="{h(p.stem)}" '
        f'loading="lazy"><span>{h(p.stem.replace("_", ":"))}</span></a>'
        for p in reversed(pictures)
    )
    body = f'<p class="days">{links}</p><div class="events">{gallery or "<p>No snapshot that day.</p>"}</div>'
    return html(page(f"{name}: snapshots {day}", body, session(request)))


# --- the access log and users (admins) ------------------------------------------------------------


async def access(request: web.Request) -> web.Response:
    site = site_of(request)
    entries = await asyncio.to_thread(site.accounts.access_log)
    rows = [
        [h(when(e.at)), h(e.user or ""), h(e.address or ""), h(e.action), h(e.detail or ""), "yes" if e.ok else "no"]
        for e in entries
    ]
    body = table(("When", "User", "Address", "What", "Detail", "OK"), rows)
    return html(page("Access log", body, session(request), here="/access"))


async def users(request: web.Request, said: str = "", status: int = 200) -> web.Response:
    site = site_of(request)
    current = session(request)
    found = await asyncio.to_thread(site.accounts.users)
    tokens = await asyncio.to_thread(site.accounts.api_tokens)
    rows = [
        [
            h(u.name),
            h(u.role),
            h(when(u.created)),
            button_form(f"/users/{quote(u.name)}/delete", "Remove", current, confirm=f"Remove {u.name}?"),
        ]
        for u in found
    ]
    token_rows = [
        [
            h(user),
            h(label),
            h(when(created)),
            h(when(used)),
            button_form(
                "/tokens/revoke",
                "Revoke",
                current,
                extra=f'<input type="hidden" name="user" value="{h(user)}"><input type="hidden" name="label" value="{h(label)}">',
            ),
        ]
        for user, label, created, used in tokens
    ]
    roles = "".join(f'<option value="{r}">{r}</option>' for r in auth.ROLES)
    body = f"""{said}{table(("User", "Role", "Since", ""), rows)}
<h2>Add a user</h2><form method="post" action="/users" class="stack">{csrf_field(current)}
<label>Name <input name="user" required></label>
<label>Password <input name="password" type="password" minlength="{auth.MIN_PASSWORD_CHARS}" autocomplete="new-password" required></label>
<label>Role <select name="role">{roles}</select></label><button type="submit">Add</button></form>
<h2>API tokens</h2><p>For scripts and Home Assistant: <code>Authorization: Bearer TOKEN</code> on <a href="/api/openapi.json">the API</a>.</p>
{table(("User", "Label", "Made", "Last used", ""), token_rows)}
<form method="post" action="/tokens" class="stack">{csrf_field(current)}
<label>For user <input name="user" required></label><label>Label <input name="label" required></label>
<button type="submit">Make a token</button></form>"""
    return html(page("Users", body, current, here="/users"), status)


async def add_user(request: web.Request) -> web.Response:
    site = site_of(request)
    admin = security.user_of(request)
    form = await request.post()
    name, password, role = str(form.get("user", "")), str(form.get("password", "")), str(form.get("role", ""))
    try:
        await asyncio.to_thread(site.accounts.add_user, name, password, role)
    except AccountError as exc:
        return await users(request, f'<p class="problem">{h(exc)}</p>', 400)
    await asyncio.to_thread(
        site.accounts.record, "user_add", user=admin.name, address=request["address"], detail=f"{name} ({role})"
    )
    site.log.info("user_added", user=name, role=role, by=admin.name)
    return await users(request, f"<p>Added {h(name)} ({h(role)}).</p>")


async def remove_user(request: web.Request) -> web.Response:
    site = site_of(request)
    admin = security.user_of(request)
    name = request.match_info["user"]
    try:
        await asyncio.to_thread(site.accounts.remove_user, name)
    except AccountError as exc:
        return await users(request, f'<p class="problem">{h(exc)}</p>', 400)
    await asyncio.to_thread(
        site.accounts.record, "user_remove", user=admin.name, address=request["address"], detail=name
    )
    site.log.info("user_removed", user=name, by=admin.name)
    return await users(request, f"<p>Removed {h(name)}.</p>")


async def add_token(request: web.Request) -> web.Response:
    site = site_of(request)
    admin = security.user_of(request)
    form = await request.post()
    name, label = str(form.get("user", "")), str(form.get("label", "")).strip()
    if not label:
        return await users(request, '<p class="problem">a label says what the token is for</p>', 400)
    try:
        token = await asyncio.to_thread(site.accounts.new_api_token, name, label)
    except AccountError as exc:
        return await users(request, f'<p class="problem">{h(exc)}</p>', 400)
    await asyncio.to_thread(
        site.accounts.record, "token_add", user=admin.name, address=request["address"], detail=f"{name}: {label}"
    )
    said = f'<p>The token for {h(name)} ({h(label)}), shown this once:</p><p><code class="token">{h(token)}</code></p>'
    return await users(request, said)


async def revoke_token(request: web.Request) -> web.Response:
    site = site_of(request)
    admin = security.user_of(request)
    form = await request.post()
    name, label = str(form.get("user", "")), str(form.get("label", ""))
    count = await asyncio.to_thread(site.accounts.revoke_api_tokens, name, label)
    await asyncio.to_thread(
        site.accounts.record, "token_revoke", user=admin.name, address=request["address"], detail=f"{name}: {label}"
    )
    return await users(request, f"<p>Revoked {count} token(s).</p>")


async def account(request: web.Request, said: str = "", status: int = 200) -> web.Response:
    current = session(request)
    assert current is not None
    body = f"""{said}<form method="post" action="/account/password" class="stack">{csrf_field(current)}
<label>Current password <input name="current" type="password" autocomplete="current-password" required></label>
<label>New password <input name="password" type="password" minlength="{auth.MIN_PASSWORD_CHARS}" autocomplete="new-password" required></label>
<button type="submit">Change my password</button></form>
<p>Changing it logs you out everywhere else.</p>"""
    return html(page(f"Account: {current.user.name}", body, current), status)


async def change_password(request: web.Request) -> web.Response:
    site = site_of(request)
    current = session(request)
    assert current is not None
    form = await request.post()
    old, new = str(form.get("current", "")), str(form.get("password", ""))
    user = await asyncio.to_thread(site.accounts.check_password, current.user.name, old)
    if user is None:
        return await account(request, '<p class="problem">The current password is wrong.</p>', 400)
    try:
        await asyncio.to_thread(site.accounts.set_password, user.name, new, keep_session=current.digest)
    except AccountError as exc:
        return await account(request, f'<p class="problem">{h(exc)}</p>', 400)
    await asyncio.to_thread(site.accounts.record, "password", user=user.name, address=request["address"])
    return await account(request, "<p>Changed. Your other sessions have ended.</p>")
