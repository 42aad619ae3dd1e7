"""Mail, exactly once: the delivery ledger, the transport, preferences and unsubscribing.

The ledger (models.Delivery) has one row per (recipient, kind, period), under
a unique constraint. A job first records what is owed (``record_owed``:
INSERT ... ON CONFLICT DO NOTHING, so a second run or a second process adds
nothing), then sends what it can claim (``send_owed``):

    pending --claim--> sending --server accepted--> sent
                          |--4xx / server down--> retry --(backoff)--> claimed again
                          |--5xx--> failed            (permanent; admins see it)
                          |--no longer owed--> skipped (checked in, turned off, day over)
    retry past the kind's retry_for (TIMING) --> failed ("gave up after N attempts")

Scheduled kinds (summaries, digests, reminders) are owed by the jobs; the
urgent notice to a care team and a password-reset link are owed by a
request, in its own transaction, and sent at once by services.outbox.

Claiming is one UPDATE ... WHERE <still claimable> per batch, after a
SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL: two scheduler processes
never wait on each other and never take the same row. SQLite serialises
writers and the UPDATE re-checks the row, which is enough there. Every
transaction that writes the ledger starts with its write: on SQLite (with
SQLAlchemy's own BEGIN) a transaction that read first cannot wait for the
write lock and fails if another connection committed in between. A row is
marked sent only after the mail server accepted the message (or the .eml
file was in place), each in its own commit.

A database that goes away between the server's acceptance and that commit
does not make the message go again: the worker keeps trying to record it
(record_outcome) for longer than a blip lasts and less than the lease. A
process that dies in that moment leaves a row in "sending"; after the
kind's lease another run takes it again. That is the one way a message can
go twice, so every delivery has its own stable
Message-ID (kept in the ledger, the same on every attempt): mail systems
and clients treat two copies with one Message-ID as one message.

Transport: SMTP when SMTP_URL is set (smtp://[user:password@]host:port,
smtps:// for TLS from the start), one connection per batch; without it
each message is written into the outbox folder (OUTBOX_DIR, default
instance/outbox) as <message id>.eml, so a retry rewrites the same file.
The settings are the ones services.mail reads.
"""
from __future__ import annotations

import logging
import os
import secrets
import smtplib
import socket
import time as time_module
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import OperationalError

from models import Delivery, NotificationPreference, Role, User, db, utcnow

from .access import require_role
from .days import local_today
from .errors import InvalidInput, NotAllowed, NotFound
from .mail import _mail_from, _outbox_dir, _setting, public_link
from .paging import one_page

log = logging.getLogger("waypoint.delivery")

# --- kinds, states, timing ------------------------------------------------------------------

WEEKLY_SUMMARY = "weekly_summary"
CLINICIAN_DIGEST = "clinician_digest"
DAILY_REMINDER = "daily_reminder"
# Owed by a request and sent at once by services.outbox, not on a schedule.
URGENT_NOTICE = "urgent_notice"
PASSWORD_RESET = "password_reset"
KINDS = (WEEKLY_SUMMARY, CLINICIAN_DIGEST, DAILY_REMINDER, URGENT_NOTICE, PASSWORD_RESET)

PENDING, SENDING, SENT, RETRY, FAILED, SKIPPED = "pending", "sending", "sent", "retry", "failed", "skipped"
STATUSES = (PENDING, SENDING, SENT, RETRY, FAILED, SKIPPED)

BATCH_SIZE = 20
SMTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Timing:
    """How one kind of message is claimed and retried."""

    # How long a temporary failure is retried, counted from when the delivery was first owed.
    retry_for: timedelta
    retry_base: timedelta = timedelta(minutes=1)
    retry_max: timedelta = timedelta(hours=1)
    # A claim older than this belongs to a process that died: another run may take the row.
    # Far longer than a batch can take (its messages at SMTP_TIMEOUT_SECONDS per exchange).
    lease: timedelta = timedelta(minutes=15)
    batch: int = BATCH_SIZE


TIMING = {
    WEEKLY_SUMMARY: Timing(retry_for=timedelta(days=6)),
    CLINICIAN_DIGEST: Timing(retry_for=timedelta(days=6)),
    DAILY_REMINDER: Timing(retry_for=timedelta(hours=12)),
    # A care team must hear of a crisis within minutes: short backoff, a short lease (a worker killed
    # mid-send delays the notice by the lease, not a quarter of an hour), small batches to keep it safe.
    URGENT_NOTICE: Timing(retry_for=timedelta(days=3), retry_base=timedelta(seconds=15),
                          retry_max=timedelta(minutes=5), lease=timedelta(minutes=2), batch=3),
    # A reset link lives 30 minutes: past that, a late mail only confuses.
    PASSWORD_RESET: Timing(retry_for=timedelta(minutes=25), retry_base=timedelta(seconds=15),
                           retry_max=timedelta(minutes=2), lease=timedelta(minutes=2), batch=3),
}
ERROR_LENGTH = 300  # Delivery.last_error

# --- preferences --------------------------------------------------------------------------------

MAX_PAUSE_DAYS = 366
_PREFERENCE_COLUMNS = NotificationPreference.__table__.c


@dataclass(frozen=True)
class Preferences:
    """A user's mail preferences; the defaults when they never set any."""

    weekly_summary: str = _PREFERENCE_COLUMNS.weekly_summary.default.arg
    reminders_enabled: bool = _PREFERENCE_COLUMNS.reminders_enabled.default.arg
    reminder_time: time = _PREFERENCE_COLUMNS.reminder_time.default.arg
    reminders_paused_until: date | None = None
    updated_at: datetime | None = None

    def reminders_on(self, day: date) -> bool:
        """Tell whether a reminder may go out on a local day (paused through reminders_paused_until)."""
        paused = self.reminders_paused_until is not None and day <= self.reminders_paused_until
        return self.reminders_enabled and not paused


def preferences_from(row: NotificationPreference | None) -> Preferences:
    """Return the preferences a row holds; the defaults for no row."""
    if row is None:
        return Preferences()
    return Preferences(row.weekly_summary, row.reminders_enabled, row.reminder_time,
                       row.reminders_paused_until, row.updated_at)


def preferences_of(user: User) -> Preferences:
    """Return the user's mail preferences."""
    return preferences_from(db.session.get(NotificationPreference, user.id))


def preferences_by_user(user_ids: Iterable[int]) -> dict[int, Preferences]:
    """Return many users' preferences in one statement; every id asked for is a key."""
    ids = list(dict.fromkeys(user_ids))
    found = {row.user_id: preferences_from(row) for row in db.session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id.in_(ids)))} if ids else {}
    return {user_id: found.get(user_id, Preferences()) for user_id in ids}


def update_preferences(patient: User, changes: Mapping, now: datetime) -> Preferences:
    """Replace a patient's mail preferences; refuse a pause in the past or over a year ahead."""
    if patient.role is not Role.patient or patient.patient_profile is None:
        raise NotAllowed("Only patients set mail preferences here.")
    paused_until = changes.get("reminders_paused_until")
    if paused_until is not None:
        today = local_today(now, patient.patient_profile.timezone)
        if paused_until < today:
            raise InvalidInput("The pause ends in the past.", {
                "reminders_paused_until": [f"Use today ({today.isoformat()}) or a later day, or null."]})
        if paused_until > today + timedelta(days=MAX_PAUSE_DAYS):
            raise InvalidInput("The pause is too long.", {
                "reminders_paused_until": [f"Pause for at most {MAX_PAUSE_DAYS} days."]})
    row = _preference_row(patient.id)
    row.weekly_summary = changes["weekly_summary"]
    row.reminders_enabled = changes["reminders_enabled"]
    row.reminder_time = changes["reminder_time"]
    row.reminders_paused_until = paused_until
    row.updated_at = now
    db.session.flush()
    return preferences_from(row)


def _preference_row(user_id: int) -> NotificationPreference:
    row = db.session.get(NotificationPreference, user_id, with_for_update=True)
    if row is None:
        defaults = Preferences()
        row = NotificationPreference(
            user_id=user_id, weekly_summary=defaults.weekly_summary,
            reminders_enabled=defaults.reminders_enabled, reminder_time=defaults.reminder_time,
        )
        db.session.add(row)
    return row


# --- unsubscribing without logging in ----------------------------------------------------------------

UNSUBSCRIBE_SALT = "waypoint-unsubscribe"
# What each kind of e-mail's link turns off, in words for the confirmation page.
UNSUBSCRIBE_SCOPES = {
    WEEKLY_SUMMARY: "weekly summary e-mails",
    CLINICIAN_DIGEST: "weekly caseload digest e-mails",
    DAILY_REMINDER: "daily check-in reminder e-mails",
}


@dataclass(frozen=True)
class Unsubscription:
    """Who a link unsubscribes, and from what."""

    user: User
    scope: str
    already: bool  # nothing left to turn off

    @property
    def what(self) -> str:
        return UNSUBSCRIBE_SCOPES[self.scope]


def _serializer() -> URLSafeSerializer:
    config = current_app.config
    return URLSafeSerializer(config.get("SECRET_KEY") or config["JWT_SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(user_id: int, scope: str) -> str:
    """Return a signed token that unsubscribes one user from one kind of e-mail (no expiry)."""
    if scope not in UNSUBSCRIBE_SCOPES:
        raise ValueError(scope)
    return _serializer().dumps([user_id, scope])


def unsubscribe_link(user_id: int, scope: str) -> str:
    """Return the address of the unsubscribe page for one user and kind of e-mail."""
    return public_link(f"/api/v1/unsubscribe/{unsubscribe_token(user_id, scope)}")


def read_unsubscribe_token(token: str) -> Unsubscription:
    """Return what a token would unsubscribe; NotFound for a forged, damaged or stale one."""
    try:
        user_id, scope = _serializer().loads(token)
        if not isinstance(user_id, int) or scope not in UNSUBSCRIBE_SCOPES:
            raise BadSignature("unexpected payload")
    except (BadSignature, TypeError, ValueError):
        raise NotFound("This unsubscribe link is not valid.") from None
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("This unsubscribe link is not valid.")
    preferences = preferences_of(user)
    already = (not preferences.reminders_enabled if scope == DAILY_REMINDER
               else preferences.weekly_summary == "off")
    return Unsubscription(user, scope, already)


def unsubscribe(token: str, now: datetime) -> Unsubscription:
    """Turn off the kind of e-mail a token names; doing it twice changes nothing."""
    found = read_unsubscribe_token(token)
    if not found.already:
        row = _preference_row(found.user.id)
        if found.scope == DAILY_REMINDER:
            row.reminders_enabled = False
        else:  # a clinician's digest lives in the same weekly setting
            row.weekly_summary = "off"
        row.updated_at = now
        db.session.flush()
    return Unsubscription(found.user, found.scope, True)


# --- what admins see -----------------------------------------------------------------------------------

def list_deliveries(actor: User, *, status: str | None = None, kind: str | None = None,
                    page: int = 1, page_size: int = 50) -> tuple[list[tuple[Delivery, User]], int]:
    """Return one page of the organization's deliveries, newest first, and the total (admins)."""
    require_role(actor, Role.admin)
    conditions = [User.organization_id == actor.organization_id]
    if status is not None:
        conditions.append(Delivery.status == status)
    if kind is not None:
        conditions.append(Delivery.kind == kind)
    base = select(Delivery, User).join(User, User.id == Delivery.recipient_id).where(*conditions)
    query, total = one_page(base.order_by(Delivery.created_at.desc(), Delivery.id.desc()), page, page_size)
    return list(db.session.execute(query).tuples()), total


# --- the ledger ---------------------------------------------------------------------------------------

def new_message_id(kind: str, period: str, recipient_id: int) -> str:
    """Return a Message-ID for one delivery; stored with it, so every attempt reuses it."""
    domain = _mail_from().rpartition("@")[2].rstrip(">").strip() or "waypoint.invalid"
    return f"<wp.{kind}.{period}.{recipient_id}.{secrets.token_hex(4)}@{domain}>"


def record_owed(kind: str, owed: Iterable[tuple[int, str]], now: datetime) -> None:
    """Add a pending ledger row for each (recipient, period) that has none (no commit).

    Call it first in its transaction (see claim).
    """
    rows = [
        {"recipient_id": recipient_id, "kind": kind, "period": period, "status": PENDING,
         "attempts": 0, "message_id": new_message_id(kind, period, recipient_id), "created_at": now}
        for recipient_id, period in dict.fromkeys(owed)
    ]
    if not rows:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    for start in range(0, len(rows), 500):
        db.session.execute(insert(Delivery).on_conflict_do_nothing(), rows[start:start + 500])


def ledger_periods(kind: str, periods: Iterable[str]) -> set[tuple[int, str]]:
    """Return the (recipient, period) pairs of kind that already have a ledger row, in one statement."""
    wanted = list(set(periods))
    if not wanted:
        return set()
    return set(db.session.execute(
        select(Delivery.recipient_id, Delivery.period).where(Delivery.kind == kind, Delivery.period.in_(wanted))
    ).tuples())


def _claimable(kind: str, now: datetime):
    return and_(Delivery.kind == kind, or_(
        and_(Delivery.status.in_((PENDING, RETRY)),
             or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)),
        and_(Delivery.status == SENDING, Delivery.claimed_at < now - TIMING[kind].lease),
    ))


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker has claimed: what sending and marking it need."""

    id: int
    recipient_id: int
    kind: str
    period: str
    message_id: str
    attempts: int  # this one included
    created_at: datetime


def claim(kind: str, worker: str, limit: int = BATCH_SIZE) -> list[Claimed]:
    """Take up to limit due deliveries of kind for this worker (no commit).

    Call it first in its transaction and commit at once: the claim is what
    other processes see. On PostgreSQL the rows are picked with SELECT ...
    FOR UPDATE SKIP LOCKED, so a worker skips rows another holds instead of
    waiting, then updated by id. On SQLite it is one UPDATE with the pick as
    its subquery: a transaction that starts with a write waits for the
    lock, where one that read first would fail when another connection
    commits in between. (On PostgreSQL the one-statement form may run the
    LIMITed, SKIP LOCKED subquery more than once and take more rows.)
    """
    now = utcnow()
    due = (select(Delivery.id).where(_claimable(kind, now))
           .order_by(Delivery.id).limit(limit).with_for_update(skip_locked=True))
    if db.session.get_bind().dialect.name == "postgresql":
        picked = db.session.scalars(due).all()
        if not picked:
            return []
        chosen = Delivery.id.in_(picked)
    else:
        chosen = Delivery.id.in_(due.scalar_subquery())
    rows = db.session.execute(
        update(Delivery).where(chosen, _claimable(kind, now))
        .values(status=SENDING, claimed_at=now, claimed_by=worker[:80], attempts=Delivery.attempts + 1)
        .returning(Delivery.id, Delivery.recipient_id, Delivery.kind, Delivery.period, Delivery.message_id,
                   Delivery.attempts, Delivery.created_at)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted((Claimed(*row) for row in rows), key=lambda claimed: claimed.id)


@dataclass(frozen=True)
class Outcome:
    """What to write into a claimed delivery's row once its attempt is over."""

    status: str
    values: Mapping


def _outcome(status: str, **values) -> Outcome:
    return Outcome(status, {"status": status, **values})


def mark_sent(delivery: Claimed) -> Outcome:
    return _outcome(SENT, sent_at=utcnow(), last_error=None, next_attempt_at=None)


def mark_skipped(delivery: Claimed, reason: str) -> Outcome:
    return _outcome(SKIPPED, last_error=reason[:ERROR_LENGTH], next_attempt_at=None)


def mark_failed(delivery: Claimed, error: str) -> Outcome:
    return _outcome(FAILED, last_error=error[:ERROR_LENGTH], next_attempt_at=None)


def mark_retry(delivery: Claimed, error: str) -> Outcome:
    """Schedule another attempt with exponential backoff, or give up past the kind's retry period."""
    now = utcnow()
    timing = TIMING[delivery.kind]
    if now >= delivery.created_at + timing.retry_for:
        return mark_failed(delivery, f"gave up after {delivery.attempts} attempts: {error}")
    delay = min(timing.retry_base * 2 ** min(max(delivery.attempts - 1, 0), 30), timing.retry_max)
    return _outcome(RETRY, last_error=error[:ERROR_LENGTH], next_attempt_at=now + delay)


def worker_name() -> str:
    """Name this process in claimed_by: host and process id."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


# --- composing and sending ------------------------------------------------------------------------------

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

    def to_dict(self) -> dict:
        return {"sent": self.sent, "retry": self.retry, "failed": self.failed, "skipped": self.skipped,
                "transport_down": self.transport_down}


class _MailPolicy(EmailPolicy):
    """The default policy, except that the one-click unsubscribe headers stay one plain line each.

    Folded at 78 characters, a long unsubscribe URL becomes an RFC 2047
    encoded word, which mail clients do not read as List-Unsubscribe
    (RFC 2369, RFC 8058): they then offer no one-click unsubscribe.
    """

    _ONE_LINE = frozenset({"list-unsubscribe", "list-unsubscribe-post"})

    def _one_line(self, name, value) -> str | None:
        text = str(value)
        if name.lower() in self._ONE_LINE and text.isascii() and not any(c in text for c in "\r\n"):
            return f"{name}: {text}{self.linesep}"
        return None

    def fold(self, name, value):
        return self._one_line(name, value) or super().fold(name, value)

    def fold_binary(self, name, value):
        line = self._one_line(name, value)
        return line.encode("ascii") if line else super().fold_binary(name, value)


MAIL_POLICY = _MailPolicy()


def build_email(delivery: Claimed, letter: Letter) -> EmailMessage:
    """Return the MIME message for a delivery: plain text and HTML, the ledger's Message-ID."""
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = _mail_from()
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
    _open_transport().close()  # a malformed SMTP_URL fails here, before anything is claimed
    report = SendReport()
    seen: set[int] = set()
    while not report.transport_down:
        db.session.commit()  # end any read: the claim must open its transaction
        batch = [d for d in claim(kind, worker, batch_size) if d.id not in seen]
        db.session.commit()
        if not batch:
            break
        seen.update(d.id for d in batch)
        try:
            letters = compose(batch)
        except Exception as error:  # noqa: BLE001 - a bug in one batch must not stall the ledger
            log.exception("composing %s failed", kind)
            letters = {d.id: _ComposeError(f"could not compose: {type(error).__name__}") for d in batch}
        db.session.rollback()  # composing only read
        with _open_transport() as transport:
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
            db.session.commit()
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


def _deliver(delivery: Claimed, letter, transport: _Transport, report: SendReport) -> Outcome:
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
    configured = _setting("DELIVERY_BATCH_SIZE")
    return min(int(configured), TIMING[kind].batch) if configured else TIMING[kind].batch


# --- transports ---------------------------------------------------------------------------------------------

class TemporaryFailure(Exception):
    """The message may go through later: retry with backoff."""


class PermanentFailure(Exception):
    """The server refused the message for good (5xx): record it for admins."""


class _Transport:
    """Send one EmailMessage at a time; `down` says why the server is out of reach, if it is."""

    down: str | None = None

    def send_message(self, message: EmailMessage) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _OutboxTransport(_Transport):
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


class _SmtpTransport(_Transport):
    """One SMTP connection for a batch, opened on the first message and reopened once if dropped."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://host:port")
        self.parts = parts
        self.connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        parts = self.parts
        connect = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
        try:
            connection = connect(parts.hostname, port, timeout=SMTP_TIMEOUT_SECONDS)
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
            try:
                connection.close()
            except OSError:
                pass

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._drop()


def _open_transport() -> _Transport:
    url = _setting("SMTP_URL")
    return _SmtpTransport(url) if url else _OutboxTransport(_outbox_dir())


def _describe(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_decode(error.smtp_error)}"
    return type(error).__name__


def _decode(reply) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
