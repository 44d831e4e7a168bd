"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives, for the email tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.processes import free_port


@dataclass
class Received:
    to: list[str]
    message: EmailMessage
    at: float = field(default_factory=time.perf_counter)  # for the benchmark's latencies

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, content_type: str) -> Any:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                return part
        raise AssertionError(f"no {content_type} part in {self.subject!r}")

    @property
    def text(self) -> str:
        return str(self.part("text/plain").get_content())

    @property
    def html(self) -> str:
        return str(self.part("text/html").get_content())


@dataclass
class Inbox:
    received: list[Received] = field(default_factory=list)
    # Cleared: the server stalls every message at RCPT until it is set again.
    open: threading.Event = field(default_factory=threading.Event)
    stalled: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def reset(self) -> None:
        self.received.clear()
        self.open.set()
        self.stalled.clear()

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.to]

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if not self.open.is_set():
            self.stalled.set()
            await asyncio.get_running_loop().run_in_executor(None, self.open.wait)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 Message accepted"


def start() -> tuple[Inbox, Controller]:
    inbox = Inbox(port=free_port())
    inbox.open.set()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    return inbox, controller
