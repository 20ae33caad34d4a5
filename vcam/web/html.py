"""The pages' HTML: a frame with the menu, and small helpers. Every value from outside (names,
paths, settings) goes through ``h``; no template engine, no JavaScript build."""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from urllib.parse import quote

from vcam.web.accounts import Session

MENU = (("/", "Cameras"), ("/events", "Events"), ("/storage", "Storage"), ("/settings", "Settings"))
ADMIN_MENU = (("/access", "Access log"), ("/users", "Users"))
HERE = ' class="here"'


def h(value: object) -> str:
    return html.escape(str(value), quote=True)


def url(path: str) -> str:
    """A stored file's URL from its path relative to VIDEO_DIR."""
    return "/files/" + quote(path)


def when(epoch: float | None) -> str:
    if epoch is None:
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def size(count: int | None) -> str:
    if count is None:
        return "?"
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{int(value // 60)} min {int(value % 60)} s"
    return f"{int(value // 3600)} h {int(value % 3600 // 60)} min"


def csrf_field(session: Session | None) -> str:
    return "" if session is None else f'<input type="hidden" name="csrf" value="{h(session.csrf)}">'


def button_form(action: str, label: str, session: Session | None, *, confirm: str = "", extra: str = "") -> str:
    """A POST form of one button (CSRF token in it); ``confirm`` asks first."""
    ask = f' data-confirm="{h(confirm)}"' if confirm else ""
    return (
        f'<form method="post" action="{h(action)}" class="inline"{ask}>{csrf_field(session)}{extra}'
        f'<button type="submit">{h(label)}</button></form>'
    )


def table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """Cells are HTML already (escape what goes in)."""
    top = "".join(f"<th>{h(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{top}</tr></thead><tbody>{body}</tbody></table></div>'


def page(title: str, body: str, session: Session | None, *, here: str = "") -> str:
    nav = ""
    if session is not None:
        items = MENU + (ADMIN_MENU if session.user.admin else ())
        links = "".join(f'<a href="{href}"{HERE if href == here else ""}>{h(name)}</a>' for href, name in items)
        nav = (
            f'<nav>{links}<span class="who">{h(session.user.name)} ({h(session.user.role)})</span>'
            f"{button_form('/logout', 'Log out', session)}</nav>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf" content="{h(session.csrf) if session else ""}">
<title>{h(title)} · vcam</title>
<link rel="stylesheet" href="/static/style.css"><script src="/static/app.js" defer></script>
</head><body>{nav}<main><h1>{h(title)}</h1>
{body}
</main></body></html>"""
