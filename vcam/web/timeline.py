"""A camera's day of continuous footage: each hour a bar of what was recorded, with its motion and
gaps (camera offline, recording off), and a player that starts at any moment and goes on into the
next segment. The layout is footage.day's; this draws it.

Moments travel as epoch seconds (``at``): the hour that repeats when DST ends has two 02:30s, and
the browser's time zone need not be the daemon's. The form takes the clock time of the day.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from aiohttp import web

from vcam import footage, layout
from vcam.eventlog import EventRow, SegmentRow
from vcam.web.html import clock, h, page, seconds, url
from vcam.web.pages import epoch_seconds, html, session, site_of
from vcam.web.site import Site

GAPS_LISTED = 100
BAR_HEIGHT = 12  # the SVG's own units; the width is an hour's seconds


async def timeline(request: web.Request) -> web.Response:
    site = site_of(request)
    name = request.match_info["camera"]
    site.camera(name)
    now = time.time()
    day_name = request.query.get("day") or layout.day(now)
    span = footage.day_span(day_name)
    if span is None:
        raise web.HTTPBadRequest(text="day: YYYY-MM-DD\n")
    start, end = span
    at = _at(request.query.get("at", ""), start)
    if at is not None and not start - footage.HOUR_S <= at <= end + footage.HOUR_S:
        raise web.HTTPBadRequest(text="at: a moment of the day shown\n")
    segments, events = await asyncio.to_thread(_read, site, name, start, end)
    day = footage.day(segments, events, start, end, now)
    body = "".join(
        (
            _days(name, day_name, start, end),
            _summary(site, name, day),
            _player(site, name, segments, at) if at is not None else "",
            _play_form(day_name, at),
            _bars(name, day_name, day),
            _gaps(day),
        )
    )
    return html(page(f"{name}: {day_name}", body, session(request)))


def _read(site: Site, name: str, start: float, end: float) -> tuple[list[SegmentRow], list[EventRow]]:
    # events are found by their start: one begun in the hour before midnight may go on into the day
    return site.events.segments(name, start, end), site.events.events(
        camera=name, since=start - footage.HOUR_S, until=end
    )


def _at(text: str, day_start: float) -> float | None:
    """``at``: epoch seconds, or a clock time (HH:MM[:SS]) of the day shown."""
    if not text:
        return None
    epoch = epoch_seconds(text)
    if epoch is not None:
        return epoch
    for pattern in ("%H:%M:%S", "%H:%M"):
        try:
            parsed = time.strptime(text, pattern)
        except ValueError:
            continue
        midnight = time.localtime(day_start)
        return time.mktime((*midnight[:3], parsed.tm_hour, parsed.tm_min, parsed.tm_sec, 0, 0, -1))
    raise web.HTTPBadRequest(text="at: HH:MM[:SS] or epoch seconds\n")


def _link(name: str, day_name: str, at: float) -> str:
    return f"/cameras/{quote(name)}/timeline?{urlencode({'day': day_name, 'at': f'{at:.1f}'})}"


def _days(name: str, day_name: str, start: float, end: float) -> str:
    before, after = layout.day(start - 1), layout.day(end + 1)
    here = f"/cameras/{quote(name)}/timeline"
    return f"""<form method="get" action="{h(here)}" class="filters">
<a href="{h(here)}?{urlencode({"day": before})}">← {h(before)}</a>
<label>Day <input type="date" name="day" value="{h(day_name)}"></label><button type="submit">Show</button>
<a href="{h(here)}?{urlencode({"day": after})}">{h(after)} →</a></form>"""


def _summary(site: Site, name: str, day: footage.Day) -> str:
    continuous = any(c.record.continuous for c in site.settings.cameras if c.name == name)
    said = (
        f"Recorded {h(seconds(day.recorded_s))} in {day.segments} segments · {len(day.gaps)} "
        f"gap{'s' if len(day.gaps) != 1 else ''} · {len(day.motion)} event{'s' if len(day.motion) != 1 else ''}"
    )
    if not continuous:
        said += ". This camera keeps event clips only (RECORD=events); RECORD=both records around the clock too"
    return f'<p class="summary">{said}.</p>'


def _player(site: Site, name: str, segments: list[SegmentRow], at: float) -> str:
    found = footage.playing_from(segments, at)
    if found is None:
        return f"<p>Nothing was recorded at or after {h(clock(at))} that day.</p>"
    segment, offset = found
    said = ""
    if segment.start > at:  # in a gap: the next recording
        said = f"<p>Nothing was recorded at {h(clock(at))}; playing from {h(clock(segment.start))}.</p>"
    link = url(site.relative(segment.path))
    zone = time.localtime(segment.start).tm_gmtoff
    return f"""<figure class="clip">{said}<video id="footage" controls autoplay muted playsinline preload="auto"
src="{h(link)}#t={offset:.1f}" data-camera="{h(name)}" data-start="{segment.start:.3f}" data-end="{segment.end:.3f}"
data-offset="{offset:.1f}" data-zone="{zone}"></video>
<figcaption>Playing <span id="clock">{h(clock(segment.start + offset))}</span>
· <span id="file">{h(Path(segment.path).name)}</span>
· <a href="{h(link)}?download=1" download>Download this segment</a></figcaption></figure>"""


def _play_form(day_name: str, at: float | None) -> str:
    value = time.strftime("%H:%M:%S", time.localtime(at)) if at is not None else ""
    return f"""<form method="get" class="filters"><input type="hidden" name="day" value="{h(day_name)}">
<label>Play from <input type="time" step="1" name="at" value="{h(value)}" required></label>
<button type="submit">Play</button></form>"""


def _bars(name: str, day_name: str, day: footage.Day) -> str:
    """One SVG per hour, its width the hour's seconds. Each recorded stretch and each event links
    to its start; with JavaScript a click plays from the very second clicked."""
    rows = []
    for hour in day.hours:
        parts = [f'<rect class="none" x="0" y="0" width="{hour.end - hour.start:.0f}" height="{BAR_HEIGHT}"/>']
        for a, b in hour.recorded:
            title = f"recorded {clock(a)} – {clock(b)}"
            parts.append(
                f'<a href="{h(_link(name, day_name, a))}"><rect class="rec" x="{a - hour.start:.1f}" y="0" '
                f'width="{max(b - a, 1):.1f}" height="{BAR_HEIGHT}"><title>{h(title)}</title></rect></a>'
            )
        for m in hour.motion:
            title = f"motion {clock(m.start)} – {clock(m.end)} (event {m.event})"
            parts.append(
                f'<a href="{h(_link(name, day_name, max(m.start - 2, day.start)))}"><rect class="motion" '
                f'x="{m.start - hour.start:.1f}" y="{BAR_HEIGHT / 2:.0f}" width="{max(m.end - m.start, 10):.1f}" '
                f'height="{BAR_HEIGHT / 2:.0f}"><title>{h(title)}</title></rect></a>'
            )
        label = time.strftime("%H:%M", time.localtime(hour.start))
        rows.append(
            f'<div class="hour"><span>{h(label)}</span><svg class="hour" viewBox="0 0 3600 {BAR_HEIGHT}" '
            f'preserveAspectRatio="none" data-start="{hour.start:.0f}" data-day="{h(day_name)}" '
            f'data-link="/cameras/{h(quote(name))}/timeline" role="img" aria-label="{h(label)}">'
            f"{''.join(parts)}</svg></div>"
        )
    legend = (
        '<p class="legend"><span class="rec">recorded</span> <span class="motion">motion</span> '
        '<span class="none">nothing recorded</span></p>'
    )
    return f'{legend}<div class="timeline">{"".join(rows)}</div>'


def _gaps(day: footage.Day) -> str:
    if not day.gaps:
        return ""
    listed = "".join(f"<li>{h(clock(a))} – {h(clock(b))} ({h(seconds(b - a))})</li>" for a, b in day.gaps[:GAPS_LISTED])
    more = f"<p>… and {len(day.gaps) - GAPS_LISTED} more.</p>" if len(day.gaps) > GAPS_LISTED else ""
    return f'<h2>Nothing recorded</h2><ul class="gaps">{listed}</ul>{more}'
