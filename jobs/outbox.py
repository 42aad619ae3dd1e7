"""The scheduler's pass over mail a request owed: what a dead or never-woken web process left behind.

Each web process sends what its requests owe right after the commit
(services.outbox); this pass, every minute, is the floor under that.
"""
from __future__ import annotations

from datetime import datetime

from services.delivery import SendReport
from services.outbox import send_due

from .report import JobReport


def immediate_mail(now: datetime | None = None, week: str | None = None) -> JobReport:
    """Send every urgent notice and password-reset mail that is due and unsent."""
    if week is not None:
        raise ValueError("owed mail is sent as it falls due; --week does not apply")
    total = SendReport()
    for report in send_due().values():
        total.add(report)
    return JobReport("immediate-mail", send=total)
