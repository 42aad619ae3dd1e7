"""Mail a request owes now: recorded in its transaction, sent right after the commit off its thread.

The urgent notice to a care team and a password-reset link cannot wait for
the scheduler's next pass, and must not be sent by the request itself: a
mail server that hangs would hold the patient's crisis answer (and, on
SQLite, every other writer) for its timeout, and one that is down would
lose the message. So a request calls ``services.ledger.owe``, which adds
a row to the delivery ledger in the request's own transaction: a
rolled-back write owes nothing, a committed one cannot lose its message.
After the outermost commit the session wakes this process's sender
thread, which claims and sends what is due with the delivery worker's
exactly-once rules (services.delivery), then sleeps until the next retry
is due (backoff from TIMING) or the next wake-up. No request waits on
SMTP and no lock is held across it.

The scheduler's ``immediate-mail`` job runs the same pass every minute: it
sends what a process that died (or was never woken) left owed. Two
senders at once are harmless: the ledger gives each row to one of them.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

from models import Delivery, db, utcnow
from models.transactions import end_read

from .delivery import Composer, SendReport, send_owed
from .ledger import PASSWORD_RESET, PENDING, RETRY, SENDING, TIMING, URGENT_NOTICE, WAKE_KEY
from .notices import compose_urgent_notices
from .password_reset import compose_password_resets

log = logging.getLogger("waypoint.outbox")

# The sender thread looks again at least this often while anything is still owed.
LONGEST_SLEEP = timedelta(seconds=60)


def composers() -> Mapping[str, Composer]:
    """Return the composer of each kind sent at once (services.ledger.SENT_AT_ONCE)."""
    return {URGENT_NOTICE: compose_urgent_notices, PASSWORD_RESET: compose_password_resets}


def send_due() -> dict[str, SendReport]:
    """Send every due message of the kinds sent at once, each kind until nothing is due."""
    return {kind: send_owed(kind, compose) for kind, compose in composers().items()}


def next_due(now: datetime | None = None) -> datetime | None:
    """Return when the earliest message still owed falls due (a dead worker's claim: when its lease ends)."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Delivery.kind, Delivery.status, func.min(Delivery.next_attempt_at), func.min(Delivery.claimed_at))
        .where(Delivery.kind.in_(tuple(composers())), Delivery.status.in_((PENDING, RETRY, SENDING)))
        .group_by(Delivery.kind, Delivery.status)
    ).all()
    end_read()
    due = []
    for kind, status, next_attempt, claimed in rows:
        if status == SENDING:
            due.append(claimed + TIMING[kind].lease)
        else:
            due.append(now if status == PENDING or next_attempt is None else next_attempt)
    return min(due) if due else None


# --- the sender thread ------------------------------------------------------------------------------

class Sender:
    """One daemon thread per process that sends owed mail when woken, and retries what failed.

    It also looks on its own at least every LONGEST_SLEEP, so a message a
    killed worker left behind goes out even where no scheduler runs.
    """

    def __init__(self, app: Flask):
        self.app = app
        self.wakeup = threading.Event()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="waypoint-outbox", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def wake(self) -> None:
        self.wakeup.set()

    def stop(self, timeout: float | None = None) -> None:
        self.stopped = True
        self.wakeup.set()
        self.thread.join(timeout)

    def _run(self) -> None:
        sleep = 0.0  # a new process first sends what an earlier one left owed
        while not self.stopped:
            self.wakeup.wait(timeout=sleep)
            self.wakeup.clear()
            if self.stopped:
                return
            sleep = self._pass()

    def _pass(self) -> float:
        """Send what is due; return how long to sleep before looking again."""
        longest = LONGEST_SLEEP.total_seconds()
        with self.app.app_context():
            try:
                send_due()
                due = next_due()
            except Exception:  # the thread must outlive a database or mail outage
                log.exception("sending owed mail failed; trying again shortly")
                return longest / 4
            finally:
                db.session.remove()
        if due is None:
            return longest
        return min(max((due - utcnow()).total_seconds(), 0.05), longest)


_senders: dict[tuple[int, int], Sender] = {}
_senders_lock = threading.Lock()


def sender_for(app: Flask) -> Sender:
    """Return this process's sender for app, started on first use (so a forked worker gets its own)."""
    key = (os.getpid(), id(app))
    with _senders_lock:
        sender = _senders.get(key)
        if sender is None:
            sender = _senders[key] = Sender(app)
            sender.start()
    return sender


# Tests replace this to send synchronously or to count wake-ups.
Waker = Callable[[Flask], None]


def wake_sender(app: Flask) -> None:
    """Wake this process's sender for app, if it runs one (web workers start it with their first request).

    A process without one (the CLI, the scheduler) leaves the message to the
    scheduler's immediate-mail job and to the web workers' own passes.
    """
    sender = _senders.get((os.getpid(), id(app)))
    if sender is not None:
        sender.wake()


_waker: Waker = wake_sender


def set_waker(waker: Waker | None) -> Waker:
    """Replace what a commit that owed mail calls (tests); None restores the thread. Return the previous one."""
    global _waker
    previous = _waker
    _waker = waker or wake_sender
    return previous


def hold_wake() -> Flask | None:
    """Take back the wake-up the current transaction's commit would give; give it later with wake().

    For a request whose answer must not wait on the sender: the thread it
    wakes shares the process, and the GIL, with the rest of the request.
    """
    app: Flask | None = db.session().info.pop(WAKE_KEY, None)
    return app


def wake(app: Flask | None) -> None:
    """Wake this process's sender for app (a test's stand-in, where a test put one)."""
    if app is None:
        return  # owed outside an app (a script): the scheduler's pass sends it
    try:
        _waker(app)
    except Exception:  # the row is committed; the scheduler's pass sends it
        log.exception("could not wake the mail sender")


def _wake_after_commit(session: Session) -> None:
    # after_commit fires for a savepoint's RELEASE too; only the outermost commit made the row durable.
    if session.get_nested_transaction() is not None or WAKE_KEY not in session.info:
        return
    wake(session.info.pop(WAKE_KEY))


def _forget_after_rollback(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(WAKE_KEY, None)


def _register(sessions: scoped_session[Any]) -> None:
    for name, listener in (("after_commit", _wake_after_commit),
                           ("after_transaction_end", _forget_after_rollback)):
        if not event.contains(sessions, name, listener):
            event.listen(sessions, name, listener)


_register(db.session)
