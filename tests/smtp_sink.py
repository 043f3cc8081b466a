"""A real SMTP server on loopback (aiosmtpd) standing in for the relay: it keeps what it receives.

Tests script its answers: `data_replies` are given, one per DATA, before it starts accepting
(`"451 4.3.0 try later"`), and `rcpt_reply` refuses every recipient with that line.
"""

from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    # The client's address and port: one per connection.
    peer: tuple | None = None

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    rcpt_reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook name
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.data_replies:
            return self.data_replies.pop(0)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                                      tuple(session.peer)))
        return "250 2.0.0 queued"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Sink:
    """An aiosmtpd Controller around a SinkHandler; `start()`/`stop()` may be called repeatedly."""

    def __init__(self, port: int | None = None, **server_kwargs) -> None:
        self.port = port or free_port()
        self.handler = SinkHandler()
        self._kwargs = server_kwargs
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> Sink:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **self._kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
