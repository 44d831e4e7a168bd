"""Sending email over SMTP (stdlib smtplib, in a thread so the event loop keeps going)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

from infra.settings import SmtpSettings

TIMEOUT_SECONDS = 30


class Mailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    @property
    def sender(self) -> str:
        return self.settings.sender

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        s = self.settings
        smtp: smtplib.SMTP
        if s.tls:
            smtp = smtplib.SMTP_SSL(
                s.host, s.port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=TIMEOUT_SECONDS)
        with smtp:
            smtp.ehlo()
            if not s.tls and smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username is not None:
                smtp.login(s.username, s.password or "")
            smtp.send_message(message)
