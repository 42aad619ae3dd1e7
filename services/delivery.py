"""The delivery worker: claim what the ledger says is due, compose it, send it, record each outcome.

``send_owed(kind, compose)`` is the whole loop, run by the jobs for the
scheduled kinds and by services.outbox's sender thread for the kinds a
request owes. Per batch: claim up to the kind's batch size (services.ledger)
and commit the claim; let compose write a Letter (or a Skip) for each
claimed delivery, reading only; open one transport (services.mail); send
each message and record its outcome, each in its own commit.

This is the one service that owns its transactions: it is not a step in
someone's unit of work but a worker, and the exactly-once rules need a
commit at these points (models.transactions).

A row is marked sent only after the mail server accepted the message (or
the .eml file was in place). A database that goes away between the
server's acceptance and that commit does not make the message go again:
the worker keeps trying to record it (record_outcome) for longer than a
blip lasts and less than the lease. A process that dies in that moment
leaves a row in "sending"; after the kind's lease another run takes it
again. That is the one way a message can go twice, so every delivery has
its own stable Message-ID (kept in the ledger, the same on every attempt):
mail systems and clients treat two copies with one Message-ID as one message.
"""
from __future__ import annotations

import logging
import time as time_module
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from models import Delivery, db, utcnow
from models.transactions import commit_unit, end_read

from .ledger import TIMING, Claimed, Outcome, claim, mark_failed, mark_retry, mark_sent, mark_skipped, worker_name
from .mail import MAIL_POLICY, PermanentFailure, TemporaryFailure, Transport, mail_from, mail_setting, open_transport

log = logging.getLogger("waypoint.delivery")

# --- what a composer returns ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Letter:
    """One e-mail's content, before the ledger gives it its headers."""

    to: str
    subject: str
    text: str
    html: str
    unsubscribe_url: str | None = None


@dataclass(frozen=True)
class Skip:
    """A delivery no longer owed at sending time, and why."""

    reason: str


Composer = Callable[[list[Claimed]], Mapping[int, Letter | Skip]]


@dataclass
class SendReport:
    """What one pass over the ledger did."""

    sent: int = 0
    retry: int = 0
    failed: int = 0
    skipped: int = 0
    transport_down: bool = False

    def to_dict(self) -> dict[str, int | bool]:
        """Return the figures for a job's report."""
        return {"sent": self.sent, "retry": self.retry, "failed": self.failed, "skipped": self.skipped,
                "transport_down": self.transport_down}

    def add(self, other: SendReport) -> None:
        """Add another pass's figures to these."""
        self.sent += other.sent
        self.retry += other.retry
        self.failed += other.failed
        self.skipped += other.skipped
        self.transport_down = self.transport_down or other.transport_down


def build_email(delivery: Claimed, letter: Letter) -> EmailMessage:
    """Return the MIME message for a delivery: plain text and HTML, the ledger's Message-ID."""
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = mail_from()
    message["To"] = letter.to
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = delivery.message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    if letter.unsubscribe_url:
        message["List-Unsubscribe"] = f"<{letter.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
    message.set_content(letter.text)
    message.add_alternative(letter.html, subtype="html")
    return message


def send_owed(kind: str, compose: Composer, *, worker: str | None = None,
              batch_size: int | None = None) -> SendReport:
    """Claim, compose, send and mark every due delivery of kind, one commit per delivery.

    Stops early, leaving the rest for the next run, when the mail server
    cannot be reached. compose only reads; every transaction that writes
    starts with its write (see claim).
    """
    worker = worker or worker_name()
    batch_size = batch_size or _batch_size(kind)
    open_transport().close()  # a malformed SMTP_URL fails here, before anything is claimed
    report = SendReport()
    seen: set[int] = set()
    while not report.transport_down:
        commit_unit()  # end any read: the claim must open its transaction
        batch = [d for d in claim(kind, worker, batch_size) if d.id not in seen]
        commit_unit()  # the claim is what other workers see
        if not batch:
            break
        seen.update(d.id for d in batch)
        letters: Mapping[int, Letter | Skip | _ComposeError]
        try:
            letters = compose(batch)
        except Exception as error:  # a bug in one batch must not stall the ledger
            log.exception("composing %s failed", kind)
            letters = {d.id: _ComposeError(f"could not compose: {type(error).__name__}") for d in batch}
        end_read()  # composing only read
        with open_transport() as transport:
            for delivery in batch:
                outcome = _deliver(delivery, letters.get(delivery.id), transport, report)
                record_outcome(delivery, outcome)
                _count(outcome.status, report)
    return report


# How long a worker keeps trying to record an outcome while the database is away: well inside
# the shortest lease, so no other worker takes the row meanwhile.
RECORD_FOR = timedelta(seconds=90)


def record_outcome(delivery: Claimed, outcome: Outcome, *, record_for: timedelta = RECORD_FOR) -> None:
    """Write and commit a delivery's outcome (one UPDATE, its transaction's first statement).

    While the database is away the write is tried again, with backoff, for
    up to record_for: once the mail server has accepted a message, failing
    to record "sent" would let the lease run out and the message go a
    second time. Only past that does the error propagate, and the row's
    Message-ID is the last guard against a duplicate.
    """
    deadline = time_module.monotonic() + record_for.total_seconds()
    pause = 0.25
    while True:
        try:
            db.session.execute(update(Delivery).where(Delivery.id == delivery.id).values(**outcome.values)
                               .execution_options(synchronize_session=False))
            commit_unit()  # each outcome on its own: a crash later never sends this one again
            return
        except OperationalError as error:  # the connection, not the statement, failed
            db.session.rollback()
            if time_module.monotonic() + pause > deadline:
                raise
            log.warning("%s delivery %s: could not record %s yet (%s), trying again",
                        delivery.kind, delivery.id, outcome.status, type(error.orig).__name__)
            time_module.sleep(pause)
            pause = min(pause * 2, 5.0)


@dataclass(frozen=True)
class _ComposeError:
    error: str


def _deliver(delivery: Claimed, letter: Letter | Skip | _ComposeError | None, transport: Transport,
             report: SendReport) -> Outcome:
    """Send one claimed delivery, or say why not; return the outcome to record."""
    if letter is None:
        letter = Skip("no longer owed")
    if isinstance(letter, Skip):
        return mark_skipped(delivery, letter.reason)
    if isinstance(letter, _ComposeError):
        return mark_retry(delivery, letter.error)
    if transport.down:
        report.transport_down = True
        return mark_retry(delivery, transport.down)
    try:
        transport.send_message(build_email(delivery, letter))
    except PermanentFailure as error:
        # Not the server's reply: it often quotes the recipient's address.
        # Admins read it in the ledger (GET /deliveries?status=failed).
        log.warning("%s delivery %s failed permanently", delivery.kind, delivery.id)
        return mark_failed(delivery, str(error))
    except TemporaryFailure as error:
        report.transport_down = transport.down is not None
        return mark_retry(delivery, str(error))
    return mark_sent(delivery)


def _count(status: str, report: SendReport) -> None:
    setattr(report, status, getattr(report, status) + 1)


def _batch_size(kind: str) -> int:
    # The setting may shrink a batch, never grow it past what the kind's lease allows.
    configured = mail_setting("DELIVERY_BATCH_SIZE")
    return min(int(configured), TIMING[kind].batch) if configured else TIMING[kind].batch
