"""E-mail alerts (smtplib), a bus subscriber with a thread of its own; alerts.py decides what to
send. A mail that cannot be sent is tried again after a growing wait, at most ATTEMPTS times, then
dropped and counted; failing and working again are each said once.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from vcam import bus
from vcam.config import NotifySettings, Server
from vcam.notify.alerts import Alert, Alerts
from vcam.notify.messages import Mask

TIMEOUT_S = 20.0
ATTEMPTS = 3
RETRY_WAITS_S = (10.0, 60.0)


class InsecureServer(Exception):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def compose(alert: Alert, sender: str, to: tuple[str, ...]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(alert.body + "\n")
    if alert.attachment is not None:
        try:
            picture = alert.attachment.read_bytes()
        except OSError:
            pass  # retention may have taken it: the mail goes without
        else:
            message.add_attachment(picture, maintype="image", subtype="jpeg", filename=alert.attachment.name)
    return message


def send(server: Server, message: EmailMessage) -> None:
    """STARTTLS when the server offers it; a password goes only over TLS (or to this machine)."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if server.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT_S, context=context)
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT_S)
    with smtp:
        if server.scheme == "smtp":
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif server.user and not is_loopback(server.host):
                raise InsecureServer("the server offers no STARTTLS: the password is not sent unencrypted")
        if server.user:
            smtp.login(server.user, server.password)
        smtp.send_message(message)


class MailNotifier:
    def __init__(
        self, settings: NotifySettings, cameras: tuple[str, ...], log: Any, *, mask: Mask, stopping: threading.Event
    ) -> None:
        assert settings.smtp is not None
        self.server = settings.smtp
        self.sender = settings.email_from
        self.to = settings.email_to
        self.log = log.bind(notifier="email", server=f"{self.server.host}:{self.server.port}")
        self.mask = mask
        self.stopping = stopping
        self.alerts = Alerts(
            cameras,
            after=settings.alert_after,
            on_motion=settings.alert_on_motion,
            max_per_hour=settings.alert_max_per_hour,
            started=time.time(),
        )
        self.sent = 0
        self.failed = 0
        self._failing = False

    def handle(self, event: bus.Event) -> None:
        for alert in self.alerts.event(event):
            self.deliver(alert)

    def tick(self) -> None:
        for alert in self.alerts.due(time.time()):
            self.deliver(alert)

    def deliver(self, alert: Alert) -> None:
        message = compose(alert, self.sender, self.to)
        for attempt, wait in enumerate((0.0, *RETRY_WAITS_S[: ATTEMPTS - 1]), 1):
            if wait and (self.stopping.is_set() or self.stopping.wait(wait)):
                break
            try:
                send(self.server, message)
            except (smtplib.SMTPException, OSError, InsecureServer) as exc:
                if not self._failing:
                    self._failing = True
                    error = self.mask(f"{type(exc).__name__}: {exc}")
                    self.log.error("email_failing", error=error, attempt=attempt, subject=alert.subject)
                if isinstance(exc, (InsecureServer, smtplib.SMTPAuthenticationError)):
                    break  # the same again would fail the same way
                continue
            self.sent += 1
            if self._failing:
                self._failing = False
                self.log.info("email_working", failed_so_far=self.failed)
            self.log.info("alert_sent", subject=alert.subject, to=", ".join(self.to))
            return
        self.failed += 1
