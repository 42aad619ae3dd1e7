"""One run of a scheduled e-mail job: record what services found owed, commit, then send it."""
from __future__ import annotations

from datetime import datetime

from models.transactions import commit_unit
from services.delivery import Composer, send_owed
from services.ledger import record_owed

from .report import JobReport


def owe_and_send(job: str, kind: str, owed: list[tuple[int, str]], compose: Composer, now: datetime) -> JobReport:
    """Record the owed (recipient, period) pairs in the ledger, commit them, and send every due one of kind.

    The owed list was read in the caller's transaction; it ends first, so the
    ledger's write opens a transaction of its own (services.ledger.claim says
    why). The rows are committed before anything is sent: a crash while
    sending loses nothing, and the next run adds nothing twice.
    """
    commit_unit()  # end the read
    record_owed(kind, owed, now)
    commit_unit()
    return JobReport(job, len(owed), send_owed(kind, compose))
