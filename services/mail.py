"""Outgoing e-mail: queued in the unit of work, handed to a sender only after it commits.

A service calls ``queue_email``; the message waits in ``db.session.info["outbox"]``
and goes out from the session's ``after_commit`` hook, so a notice can never
announce a write that was rolled back. A rollback of the whole transaction
discards the queue; a rollback to a savepoint discards what was queued inside
that savepoint. Savepoint commits send nothing: only the outermost commit does.

Delivery is synchronous and best effort: a failure is logged (the kind of
error only, never an address or a body) and never fails the request, whose
write has already committed. A delivery ledger with retries will replace the
sender (``set_sender``) without touching the callers.

Where mail goes (app config first, then the environment):
``SMTP_URL`` ``smtp://[user:password@]host:port`` (``smtps://`` for TLS from the
start) sends with smtplib; without it each message is written as an .eml file
into ``OUTBOX_DIR`` (default ``<instance>/outbox``). ``MAIL_FROM`` is the sender
address.
"""
from __future__ import annotations

import logging
import os
import smtplib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from models import db

log = logging.getLogger("waypoint.mail")

OUTBOX_KEY = "outbox"
DEFAULT_MAIL_FROM = "Waypoint <no-reply@waypoint.invalid>"
SMTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class OutgoingEmail:
    """One message waiting for the commit."""

    to: str
    subject: str
    text: str
    html: str | None = None
    # The savepoints open when it was queued: rolling back any of them drops it.
    savepoints: tuple = field(default=(), compare=False, repr=False)


Sender = Callable[[list[OutgoingEmail]], None]


def queue_email(to: str, subject: str, text: str, html: str | None = None) -> None:
    """Queue a message to go out once the current transaction commits."""
    session = db.session()
    if not session.in_transaction():
        session.begin()  # so that a rollback before any statement still discards it
    session.info.setdefault(OUTBOX_KEY, []).append(
        OutgoingEmail(to, subject, text, html, _open_savepoints(session))
    )


def queued_emails() -> list[OutgoingEmail]:
    """Return what the current session would send on commit (for tests and diagnostics)."""
    return list(db.session().info.get(OUTBOX_KEY, ()))


# --- sending ---------------------------------------------------------------------

def send(messages: list[OutgoingEmail]) -> None:
    """Deliver messages by SMTP when SMTP_URL is set, else as .eml files in the outbox folder."""
    smtp_url = _setting("SMTP_URL")
    if smtp_url:
        _send_smtp(smtp_url, messages)
    else:
        _write_eml(_outbox_dir(), messages)


_sender: Sender = send


def set_sender(sender: Sender | None) -> Sender:
    """Replace the sender (tests, a delivery ledger); None restores send. Return the previous one."""
    global _sender
    previous = _sender
    _sender = sender or send
    return previous


def build_message(email: OutgoingEmail, mail_from: str) -> EmailMessage:
    """Return the MIME message for one queued e-mail: plain text, with an HTML part if given."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Message-ID"] = make_msgid(domain=mail_from.rpartition("@")[2].rstrip(">") or None)
    message.set_content(email.text)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
    return message


def _send_smtp(url: str, messages: list[OutgoingEmail]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://host:port")
    connect = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    port = parts.port or (465 if parts.scheme == "smtps" else 25)
    mail_from = _mail_from()
    with connect(parts.hostname, port, timeout=SMTP_TIMEOUT_SECONDS) as server:
        if parts.username:
            server.login(unquote(parts.username), unquote(parts.password or ""))
        for email in messages:
            server.send_message(build_message(email, mail_from))


def _write_eml(folder: Path, messages: list[OutgoingEmail]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    mail_from = _mail_from()
    for email in messages:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        target = folder / f"{stamp}-{uuid.uuid4().hex}.eml"
        partial = target.with_suffix(".eml.part")
        partial.write_bytes(build_message(email, mail_from).as_bytes())
        partial.replace(target)  # a reader of the folder never sees half a message


def public_link(path: str) -> str:
    """Return the address of a page of Waypoint, for a link in a message."""
    base = _setting("PUBLIC_BASE_URL") or "http://127.0.0.1:5000"
    return base.rstrip("/") + path


def _setting(name: str) -> str | None:
    value = current_app.config.get(name) if has_app_context() else None
    return value or os.environ.get(name) or None


def _mail_from() -> str:
    return _setting("MAIL_FROM") or DEFAULT_MAIL_FROM


def _outbox_dir() -> Path:
    configured = _setting("OUTBOX_DIR")
    if configured:
        return Path(configured)
    if has_app_context():
        return Path(current_app.instance_path) / "outbox"
    return Path("instance") / "outbox"


# --- the unit of work ----------------------------------------------------------------

def _open_savepoints(session: Session) -> tuple[SessionTransaction, ...]:
    savepoints = []
    transaction = session.get_nested_transaction()
    while transaction is not None:
        if transaction.nested:
            savepoints.append(transaction)
        transaction = transaction.parent
    return tuple(savepoints)


def _deliver_after_commit(session: Session) -> None:
    # after_commit fires for a savepoint's RELEASE too; only the outermost
    # commit makes the write durable.
    if session.get_nested_transaction() is not None:
        return
    messages = session.info.pop(OUTBOX_KEY, None)
    if not messages:
        return
    try:
        _sender(list(messages))
    except Exception as error:  # noqa: BLE001 - the write committed; a lost notice must not undo the answer
        log.error("e-mail delivery failed: %d message(s) not sent (%s)", len(messages), type(error).__name__)


def _discard_after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    boundary = previous_transaction
    while boundary.parent is not None and not boundary.nested:
        boundary = boundary.parent  # a failed flush rolls back to the savepoint or the root
    queued = session.info.get(OUTBOX_KEY)
    if not queued:
        return
    if boundary.parent is None:
        session.info.pop(OUTBOX_KEY, None)
    else:
        session.info[OUTBOX_KEY] = [email for email in queued if boundary not in email.savepoints]


def _discard_after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # The root transaction ended without after_commit taking the queue: it was
    # rolled back or closed (Session.close does not fire the rollback hooks).
    if transaction.parent is None:
        session.info.pop(OUTBOX_KEY, None)


def _register(sessions) -> None:
    for name, listener in (("after_commit", _deliver_after_commit),
                           ("after_soft_rollback", _discard_after_rollback),
                           ("after_transaction_end", _discard_after_transaction_end)):
        if not event.contains(sessions, name, listener):
            event.listen(sessions, name, listener)


_register(db.session)

