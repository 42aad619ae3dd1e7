"""The commit rule, in one place: services flush; the owner of a unit of work commits it.

A service function is a step inside someone else's unit of work: it
flushes, so its writes are checked and its ids known, and never commits.
Three kinds of caller own a unit, and each commits it here:

- a request: its view calls api.auth.commit() once, after the services it
  called (an urgent notice is owed in the alert's own transaction, so the
  two are durable together or not at all);
- a job's loop (jobs/): one commit per unit of its work, an organization or
  the ledger rows a run found owed, so one failure loses only its own unit;
- the delivery worker (services.delivery.send_owed, run by the jobs and by
  services.outbox's sender thread): the claim of a batch is a unit, and so
  is each delivery's outcome, so a crash after the mail server accepted a
  message never sends it twice.

It lives beside the session (models), the one thing every layer shares.
"""
from __future__ import annotations

from .base import db


def commit_unit() -> None:
    """Commit the current unit of work (never call it from a service step: see the module)."""
    db.session.commit()


def end_read() -> None:
    """End a unit that only read, so the next unit opens its transaction with its own first statement.

    On SQLite a transaction that read first cannot wait for the write lock
    later; the delivery ledger's writes therefore start their own.
    """
    db.session.rollback()
