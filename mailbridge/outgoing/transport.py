"""Delivery of one finished mail: to an SMTP relay, or into a local Maildir folder a person can open.

    DeliveryError
    ├── TemporaryFailure   try again later (4xx, connection refused, timeout, TLS or login trouble)
    └── PermanentFailure   never retry: the relay refused this mail for good (5xx)

A relay that cannot be reached or refuses our login is a temporary failure: it is not the mail's
fault, and once the relay or the config is fixed the queue drains by itself.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import smtplib
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import ClassVar, Protocol

from mailbridge.config.models import Config
from mailbridge.config.outbox import OutboxSection
from mailbridge.intake.spool import sync_directory
from mailbridge.oauth import OAuthError, UserTokens, user_tokens
from mailbridge.oauth.xoauth2 import xoauth2


class DeliveryError(Exception):
    """A mail was not delivered; `str()` is one line for the outbox's `last_error`."""


class TemporaryFailure(DeliveryError):
    """Worth trying again later."""


class PermanentFailure(DeliveryError):
    """Refused for good (a 5xx answer to this mail)."""


class Transport(Protocol):
    """Delivers one mail. A transport may also have `deduplicates = True` (a mail sent again after
    a crash does not arrive twice) and `flush()` (make what `send` wrote durable); see below."""

    def send(self, mail_from: str, recipient: str, content: bytes) -> str:
        """Deliver or raise DeliveryError; returns a one-line description of where it went."""
        ...


def deduplicates(transport: Transport) -> bool:
    """Whether a mail sent again through `transport` lands on its earlier copy instead of beside it."""
    return getattr(transport, "deduplicates", False)


def batch(transport: Transport):
    """A context giving the `send` to use for one claimed batch (one relay connection for all of it, one sync for
    all of a Maildir batch's files), where the transport can."""
    opener = getattr(transport, "batch", None)
    return opener() if opener is not None else nullcontext(transport.send)


def flush(transport: Transport) -> None:
    """Make what `transport` delivered so far durable, before the outbox records it as sent."""
    flush_method = getattr(transport, "flush", None)
    if flush_method is not None:
        flush_method()


@dataclass(frozen=True)
class SmtpRelay:
    """An SMTP relay: plain, STARTTLS or implicit TLS, with optional AUTH (a password, or XOAUTH2 with `tokens`)."""

    settings: OutboxSection
    tokens: UserTokens | None = None

    def send(self, mail_from: str, recipient: str, content: bytes) -> str:
        with self.batch() as send:
            return send(mail_from, recipient, content)

    @contextmanager
    def batch(self) -> Iterator[Callable[[str, str, bytes], str]]:
        """A `send` whose mails share one connection: one handshake, TLS and login for a batch, not one per mail.

        Any failure closes the connection, and the next mail opens a new one, so a refusal or a
        dropped connection never leaves a half-finished SMTP transaction for the next mail.
        """
        kept = _KeptConnection(self)
        try:
            yield kept.send
        finally:
            kept.close()

    def _send_on(self, smtp: smtplib.SMTP, mail_from: str, recipient: str, content: bytes) -> None:
        refused = smtp.sendmail(mail_from, [recipient], content)
        if refused:
            code, text = refused[recipient]
            raise _by_code(code, text, "RCPT")

    def _failure(self, error: BaseException, recipient: str) -> DeliveryError:
        """What a failed send means for the mail: retry later, or never."""
        if isinstance(error, DeliveryError):
            return error
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            code, text = error.recipients.get(recipient, (450, b"refused"))
            return _by_code(code, text, "RCPT")
        if isinstance(error, smtplib.SMTPResponseException):
            return _by_code(error.smtp_code, error.smtp_error, "relay")
        if isinstance(error, OAuthError):
            # No token, or consent revoked: the config's business, not the mail's; it waits for the fix.
            return TemporaryFailure(f"relay {self._where}: {error}")
        return TemporaryFailure(f"relay {self._where}: {type(error).__name__}: {error}")

    def probe(self) -> str:
        """Connect, say EHLO, start TLS and log in as `send` would, then quit; raises DeliveryError."""
        try:
            with self._connect() as smtp:
                smtp.noop()
        except smtplib.SMTPResponseException as error:
            raise _by_code(error.smtp_code, error.smtp_error, "relay") from None
        except (smtplib.SMTPException, OSError, ssl.SSLError, OAuthError) as error:
            raise TemporaryFailure(f"relay {self._where}: {type(error).__name__}: {error}") from None
        login = f", logged in as {self.settings.relay_user}" if self.settings.relay_user else ""
        return f"relay {self._where}: reachable ({self.settings.relay_tls}{login})"

    @property
    def _where(self) -> str:
        return f"{self.settings.relay_host}:{self.settings.relay_port}"

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        timeout = settings.relay_timeout_seconds
        if settings.relay_tls == "implicit":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.relay_host, settings.relay_port,
                                                  timeout=timeout, context=self._tls_context())
        else:
            smtp = smtplib.SMTP(settings.relay_host, settings.relay_port, timeout=timeout)
        try:
            smtp.ehlo()
            if settings.relay_tls == "starttls":
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if settings.relay_auth == "xoauth2":
                self._xoauth2(smtp)
            elif settings.relay_user:
                smtp.login(settings.relay_user, settings.relay_password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _xoauth2(self, smtp: smtplib.SMTP) -> None:
        """AUTH XOAUTH2 as relay_user; a refused token is dropped so that the next try gets a new one."""
        token = self.tokens.access_token()
        # smtplib calls this once for the initial response, and again with the server's error
        # challenge (a base64 JSON status), which XOAUTH2 answers with an empty line.
        answers = iter([xoauth2(self.settings.relay_user, token)])
        try:
            smtp.auth("XOAUTH2", lambda challenge=None: next(answers, ""), initial_response_ok=True)
        except smtplib.SMTPAuthenticationError:
            self.tokens.forget_access_token()
            raise

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.relay_ca_file or None)


class _KeptConnection:
    """The connection `SmtpRelay.batch` keeps open between the mails of a batch."""

    def __init__(self, relay: SmtpRelay) -> None:
        self.relay = relay
        self.smtp: smtplib.SMTP | None = None

    def send(self, mail_from: str, recipient: str, content: bytes) -> str:
        try:
            if self.smtp is None:
                self.smtp = self.relay._connect()
            self.relay._send_on(self.smtp, mail_from, recipient, content)
        except (smtplib.SMTPException, OSError, ssl.SSLError, OAuthError, DeliveryError) as error:
            self.close()
            raise self.relay._failure(error, recipient) from None
        return f"relay {self.relay._where}"

    def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError, ssl.SSLError):
            smtp.close()


def _by_code(code: int, text: bytes | str, stage: str) -> DeliveryError:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    line = f"{stage} answered {code} {' '.join(message.split())}"
    # A refused login is the config's fault, not the mail's: keep the mail for after the fix.
    if 500 <= code < 600 and code not in (530, 534, 535, 538):
        return PermanentFailure(line)
    return TemporaryFailure(line)


@dataclass(frozen=True)
class MaildirTransport:
    """Writes each mail as a file in `directory/new`, via `tmp/` and a rename (never half a file).

    The file's name is derived from the recipient and the mail's bytes (fixed at queue time,
    Message-ID included), so a mail sent again after a crash lands on its own earlier copy (in
    `new/`, or in `cur/` once a reader has seen it) instead of beside it: the outbox may record
    a batch of them as sent at once (`deduplicates`). Each file is synced before its rename
    (`send` syncs its one file; a `batch` syncs all of its files together when it ends); the
    renames are made durable by `flush`, which the outbox calls before it records them.
    Folders are 0700 and files 0600 whatever the umask: this is customers' mail.
    """

    directory: Path
    deduplicates: ClassVar[bool] = True

    def send(self, mail_from: str, recipient: str, content: bytes) -> str:
        try:
            path = self._deliver(mail_from, recipient, content)
        except OSError as error:
            raise TemporaryFailure(f"maildir {self.directory}: {error.strerror or error}") from None
        return f"maildir {path}"

    @contextmanager
    def batch(self) -> Iterator[Callable[[str, str, bytes], str]]:
        """A `send` for the mails of one claimed batch: each is written to `tmp/` unsynced, and when the batch
        ends all are synced together and only then renamed into `new/`.

        A sync per file was most of the sender's CPU (an fsync each, and a journal commit each, for
        files of a few KB); one sync of the folder's filesystem makes the whole batch durable at
        once (`_sync_files`). The order a reader relies on is kept: no file is in `new/` before its
        bytes are on disk. A crash before the end leaves the batch's temporaries in `tmp/` (which
        Maildir readers clean up) and nothing recorded: the mails are sent again.
        """
        staged: list[tuple[str, str]] = []

        def stage(mail_from: str, recipient: str, content: bytes) -> str:
            try:
                path = self._deliver(mail_from, recipient, content, staged)
            except OSError as error:
                raise TemporaryFailure(f"maildir {self.directory}: {error.strerror or error}") from None
            return f"maildir {path}"

        try:
            yield stage
        finally:
            self._publish(staged)

    def _publish(self, staged: list[tuple[str, str]]) -> None:
        """Sync the staged temporaries, then rename each into `new/`; on a failure none is left in `tmp/`."""
        if not staged:
            return
        try:
            _sync_files([temporary for temporary, _ in staged])
            for temporary, final in staged:
                os.rename(temporary, final)
        except OSError as error:
            for temporary, _ in staged:
                _remove(temporary)
            raise TemporaryFailure(f"maildir {self.directory}: {error.strerror or error}") from None

    def flush(self) -> None:
        """Sync `new/`, so that the files renamed into it since the last flush stay there after a power cut."""
        try:
            sync_directory(os.path.join(self.directory, "new"))
        except OSError as error:
            raise TemporaryFailure(f"maildir {self.directory}: {error.strerror or error}") from None

    def _deliver(self, mail_from: str, recipient: str, content: bytes,
                 staged: list[tuple[str, str]] | None = None) -> str:
        """Write one mail: synced and renamed into `new/` now, or (within a `batch`) unsynced in `tmp/`, its
        rename added to `staged`."""
        name = _maildir_name(recipient, content)
        earlier = self._earlier_copy(name)
        if earlier is not None:
            return earlier
        # Maildir files use the local line end; the envelope is kept as a mail server would.
        envelope = f"Return-Path: <{mail_from}>\nDelivered-To: {recipient}\n".encode()
        data = envelope + content.replace(b"\r\n", b"\n")
        tmp, new, _ = self._folders
        temporary = f"{tmp}/{name}.{time.time_ns()}"
        final = f"{new}/{name}"
        try:
            sync = staged is None
            try:
                _write_private(temporary, data, sync)
            except FileNotFoundError:
                # The folders are made when a write finds them missing (the first mail, or
                # someone removed them), not looked at for every mail.
                self._make_folders()
                _write_private(temporary, data, sync)
            if staged is None:
                os.rename(temporary, final)
            else:
                staged.append((temporary, final))
        except BaseException:
            # A full disk must not leave empty or partial files behind in tmp/.
            _remove(temporary)
            raise
        return final

    @cached_property
    def _folders(self) -> tuple[str, str, str]:
        """`tmp/`, `new/` and `cur/` as strings, joined once: each mail's three or four paths are made from them."""
        tmp, new, cur = (os.path.join(self.directory, sub) for sub in ("tmp", "new", "cur"))
        return tmp, new, cur

    def _make_folders(self) -> None:
        for sub in ("", "tmp", "new", "cur"):
            os.makedirs(os.path.join(self.directory, sub), mode=0o700, exist_ok=True)

    def _earlier_copy(self, name: str) -> str | None:
        _, new, cur = self._folders
        for candidate in (f"{new}/{name}", f"{cur}/{name}:2,", f"{cur}/{name}:2,S"):
            if os.path.exists(candidate):
                return candidate
        return None


def _maildir_name(recipient: str, content: bytes) -> str:
    digest = hashlib.sha256(recipient.encode() + b"\0" + content).hexdigest()[:40]
    return f"mb-{digest}.{_host()}"


@cache
def _host() -> str:
    """This machine's name as a Maildir file name part, asked once: a uname(2) per mail showed in the sender's trace."""
    return socket.gethostname().replace("/", "_").replace(":", "_")


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_private(path: str, data: bytes, sync: bool = True) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view):]
        if sync:
            os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sync_files(paths: list[str]) -> None:
    """Make the bytes of `paths` (files in one folder) durable: one syncfs(2) of their filesystem on
    Linux, else an fsync each.

    syncfs also writes out whatever else is pending on that filesystem, which costs far less than
    the journal commit and device flush that each fsync of a small file makes (on ext4, a batch of
    50 mails took a third of the system time). It reports write-back errors since Linux 5.8.
    """
    syncfs = _syncfs()
    if syncfs is None:
        for path in paths:
            descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        return
    descriptor = os.open(os.path.dirname(paths[0]), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if syncfs(descriptor) != 0:
            number = ctypes.get_errno()
            raise OSError(number, os.strerror(number))
    finally:
        os.close(descriptor)


@cache
def _syncfs() -> Callable[[int], int] | None:
    """The C library's syncfs, where there is one (Linux); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    syncfs.argtypes, syncfs.restype = [ctypes.c_int], ctypes.c_int
    return syncfs


def transport_for(config: Config) -> Transport:
    """The relay when `[outbox] relay_host` is set, else the Maildir folder."""
    if config.outbox.relay_host:
        tokens = user_tokens(config, config.outbox.relay_oauth) if config.outbox.relay_auth == "xoauth2" else None
        return SmtpRelay(config.outbox, tokens)
    return MaildirTransport(config.outbox_maildir)
