"""Where mail goes and where its links point, and the one transport that takes it there.

Messages themselves go through the delivery ledger (services.ledger) and
its worker (services.delivery): the scheduled ones from the jobs, the ones
a request owes (the urgent notice, a password-reset link) through
services.outbox. This module is the only one that speaks SMTP.

Settings (app config first, then the environment):
``SMTP_URL`` ``smtp://[user:password@]host:port`` (``smtps://`` for TLS from the
start) sends with smtplib; without it each message is written as an .eml file
into ``OUTBOX_DIR`` (default ``<instance>/outbox``). ``MAIL_FROM`` is the sender
address; ``PUBLIC_BASE_URL`` the address of Waypoint's pages in links.

Transport: SMTP when SMTP_URL is set, one connection per batch; without it
each message is written into the outbox folder as <message id>.eml, so a
retry rewrites the same file.
"""
from __future__ import annotations

import os
import smtplib
from contextlib import suppress
from email.message import EmailMessage
from email.policy import EmailPolicy
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import current_app, has_app_context

DEFAULT_MAIL_FROM = "Waypoint <no-reply@waypoint.invalid>"
SMTP_TIMEOUT_SECONDS = 10


def public_link(path: str) -> str:
    """Return the address of a page of Waypoint, for a link in a message."""
    base = mail_setting("PUBLIC_BASE_URL") or "http://127.0.0.1:5000"
    return base.rstrip("/") + path


def mail_setting(name: str) -> str | None:
    """Return a mail setting: the app's config first, then the environment; None when unset."""
    value = current_app.config.get(name) if has_app_context() else None
    return value or os.environ.get(name) or None


def mail_from() -> str:
    """Return the sender address of every message."""
    return mail_setting("MAIL_FROM") or DEFAULT_MAIL_FROM


def outbox_dir() -> Path:
    """Return the folder messages are written into when no SMTP_URL is set."""
    configured = mail_setting("OUTBOX_DIR")
    if configured:
        return Path(configured)
    if has_app_context():
        return Path(current_app.instance_path) / "outbox"
    return Path("instance") / "outbox"


# --- the message's headers -------------------------------------------------------------------------

class MailPolicy(EmailPolicy):
    """The default policy, except that the one-click unsubscribe headers stay one plain line each.

    Folded at 78 characters, a long unsubscribe URL becomes an RFC 2047
    encoded word, which mail clients do not read as List-Unsubscribe
    (RFC 2369, RFC 8058): they then offer no one-click unsubscribe.
    """

    _ONE_LINE = frozenset({"list-unsubscribe", "list-unsubscribe-post"})

    def _one_line(self, name: str, value: Any) -> str | None:
        text = str(value)
        if name.lower() in self._ONE_LINE and text.isascii() and not any(c in text for c in "\r\n"):
            return f"{name}: {text}{self.linesep}"
        return None

    def fold(self, name: str, value: Any) -> str:
        return self._one_line(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: Any) -> bytes:
        line = self._one_line(name, value)
        return line.encode("ascii") if line else super().fold_binary(name, value)


MAIL_POLICY = MailPolicy()


# --- transports ---------------------------------------------------------------------------------------------

class TemporaryFailure(Exception):
    """The message may go through later: retry with backoff."""


class PermanentFailure(Exception):
    """The server refused the message for good (5xx): record it for admins."""


class Transport:
    """Send one EmailMessage at a time; `down` says why the server is out of reach, if it is."""

    down: str | None = None

    def send_message(self, message: EmailMessage) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


class OutboxTransport(Transport):
    """Write each message into the outbox folder, named by its Message-ID (a retry rewrites it)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def send_message(self, message: EmailMessage) -> None:
        name = "".join(c if c.isalnum() or c in "-._" else "_" for c in message["Message-ID"].strip("<>"))
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.folder / f"{name}.eml"
            partial = target.with_suffix(".eml.part")
            partial.write_bytes(message.as_bytes())
            partial.replace(target)  # a reader of the folder never sees half a message
        except OSError as error:
            raise TemporaryFailure(f"outbox not writable: {type(error).__name__}") from None


class SmtpTransport(Transport):
    """One SMTP connection for a batch, opened on the first message and reopened once if dropped."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://host:port")
        self.parts = parts
        self.connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        parts = self.parts
        host = parts.hostname or ""  # checked in __init__
        connect = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
        try:
            connection = connect(host, port, timeout=SMTP_TIMEOUT_SECONDS)
            if parts.username:
                connection.login(unquote(parts.username), unquote(parts.password or ""))
        except (OSError, smtplib.SMTPException) as error:
            # Unreachable, refused, or it would not let us in: nothing in the batch can go now.
            self.down = f"mail server unavailable: {_describe(error)}"
            raise TemporaryFailure(self.down) from None
        return connection

    def send_message(self, message: EmailMessage) -> None:
        if self.connection is None:
            self.connection = self._connect()
        try:
            self.connection.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _text in error.recipients.values()]
            text = "; ".join(f"{code} {_decode(reply)}" for code, reply in error.recipients.values())
            raise (PermanentFailure if all(code >= 500 for code in codes) else TemporaryFailure)(
                f"recipient refused: {text}") from None
        except smtplib.SMTPResponseException as error:
            failure = PermanentFailure if 500 <= error.smtp_code < 600 else TemporaryFailure
            raise failure(f"{error.smtp_code} {_decode(error.smtp_error)}") from None
        except (OSError, smtplib.SMTPException) as error:
            # Dropped mid-message: the server did not accept it. Reconnect for the next one.
            self._drop()
            raise TemporaryFailure(f"connection lost: {_describe(error)}") from None

    def _drop(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            with suppress(OSError):
                connection.close()

    def close(self) -> None:
        if self.connection is not None:
            with suppress(OSError, smtplib.SMTPException):
                self.connection.quit()
            self._drop()


def open_transport() -> Transport:
    """Return the transport the settings name: SMTP with SMTP_URL, else the outbox folder."""
    url = mail_setting("SMTP_URL")
    return SmtpTransport(url) if url else OutboxTransport(outbox_dir())


def _describe(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_decode(error.smtp_error)}"
    return type(error).__name__


def _decode(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
