"""The delivery ledger: one row per e-mail owed, and the states it moves through exactly once.

The ledger (models.Delivery) has one row per (recipient, kind, period), under
a unique constraint. Whoever owes mail records it first (``record_owed``:
INSERT ... ON CONFLICT DO NOTHING, so a second run or a second process adds
nothing); the delivery worker (services.delivery) then claims what is due
and records each attempt's outcome:

    pending --claim--> sending --server accepted--> sent
                          |--4xx / server down--> retry --(backoff)--> claimed again
                          |--5xx--> failed            (permanent; admins see it)
                          |--no longer owed--> skipped (checked in, turned off, day over)
    retry past the kind's retry_for (TIMING) --> failed ("gave up after N attempts")

Scheduled kinds (summaries, digests, reminders) are owed by the jobs; the
urgent notice to a care team and a password-reset link are owed by a
request (``owe``), in its own transaction, and sent at once by services.outbox.

Claiming is one UPDATE ... WHERE <still claimable> per batch, after a
SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL: two scheduler processes
never wait on each other and never take the same row. SQLite serialises
writers and the UPDATE re-checks the row, which is enough there. Every
transaction that writes the ledger starts with its write: on SQLite (with
SQLAlchemy's own BEGIN) a transaction that read first cannot wait for the
write lock and fails if another connection committed in between.

Nothing here commits (models.transactions): the request, the job or the
delivery worker that called it does.
"""
from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from models import Delivery, Role, User, db, utcnow

from .access import require_role
from .mail import mail_from
from .paging import one_page

# --- kinds, states, timing ------------------------------------------------------------------

WEEKLY_SUMMARY = "weekly_summary"
CLINICIAN_DIGEST = "clinician_digest"
DAILY_REMINDER = "daily_reminder"
# Owed by a request and sent at once by services.outbox, not on a schedule.
URGENT_NOTICE = "urgent_notice"
PASSWORD_RESET = "password_reset"
# The kinds a request owes and services.outbox sends at once.
SENT_AT_ONCE = (URGENT_NOTICE, PASSWORD_RESET)
KINDS = (WEEKLY_SUMMARY, CLINICIAN_DIGEST, DAILY_REMINDER, URGENT_NOTICE, PASSWORD_RESET)

PENDING, SENDING, SENT, RETRY, FAILED, SKIPPED = "pending", "sending", "sent", "retry", "failed", "skipped"
STATUSES = (PENDING, SENDING, SENT, RETRY, FAILED, SKIPPED)

BATCH_SIZE = 20


@dataclass(frozen=True)
class Timing:
    """How one kind of message is claimed and retried."""

    # How long a temporary failure is retried, counted from when the delivery was first owed.
    retry_for: timedelta
    retry_base: timedelta = timedelta(minutes=1)
    retry_max: timedelta = timedelta(hours=1)
    # A claim older than this belongs to a process that died: another run may take the row.
    # Far longer than a batch can take (its messages at services.mail.SMTP_TIMEOUT_SECONDS per exchange).
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


# --- owing -----------------------------------------------------------------------------------------

def new_message_id(kind: str, period: str, recipient_id: int) -> str:
    """Return a Message-ID for one delivery; stored with it, so every attempt reuses it."""
    domain = mail_from().rpartition("@")[2].rstrip(">").strip() or "waypoint.invalid"
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
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for start in range(0, len(rows), 500):
        db.session.execute(insert(Delivery).on_conflict_do_nothing(), rows[start:start + 500])


# Marks a session whose commit must wake this process's mail sender (services.outbox), and for which app.
WAKE_KEY = "outbox.wake"


def owe(kind: str, recipient_id: int, period: str, now: datetime) -> None:
    """Record in the current transaction that one message of kind is owed; it goes after the commit (no commit).

    For the kinds a request owes (URGENT_NOTICE, PASSWORD_RESET): the session
    notes it, and services.outbox wakes its sender once the outermost commit
    made the row durable. A rolled-back transaction owes nothing.
    """
    if kind not in SENT_AT_ONCE:
        raise ValueError(f"{kind} is not sent at once")
    record_owed(kind, [(recipient_id, period)], now)
    # The app itself, not the proxy: the sender thread it wakes has no app context of its own.
    app = current_app._get_current_object() if has_app_context() else None  # type: ignore[attr-defined]
    db.session().info[WAKE_KEY] = app


def ledger_periods(kind: str, periods: Iterable[str]) -> set[tuple[int, str]]:
    """Return the (recipient, period) pairs of kind that already have a ledger row, in one statement."""
    wanted = list(set(periods))
    if not wanted:
        return set()
    return set(db.session.execute(
        select(Delivery.recipient_id, Delivery.period).where(Delivery.kind == kind, Delivery.period.in_(wanted))
    ).tuples())


# --- claiming and outcomes ---------------------------------------------------------------------------

def _claimable(kind: str, now: datetime) -> ColumnElement[bool]:
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
    values: Mapping[str, Any]


def _outcome(status: str, **values: Any) -> Outcome:
    return Outcome(status, {"status": status, **values})


def mark_sent(delivery: Claimed) -> Outcome:
    """The mail server accepted the message (or its .eml file is in place)."""
    return _outcome(SENT, sent_at=utcnow(), last_error=None, next_attempt_at=None)


def mark_skipped(delivery: Claimed, reason: str) -> Outcome:
    """The delivery is no longer owed, for reason."""
    return _outcome(SKIPPED, last_error=reason[:ERROR_LENGTH], next_attempt_at=None)


def mark_failed(delivery: Claimed, error: str) -> Outcome:
    """The delivery failed for good; admins see error in the ledger."""
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
