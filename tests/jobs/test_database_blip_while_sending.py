"""A database that goes away while the weekly job sends: nothing sent twice, nothing left for the lease."""
import time
from datetime import date

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from jobs.weekly import weekly_summaries
from models import db

from .support import ledger

W47 = date(2026, 11, 16)


class Blip:
    """Every statement fails, as on a dropped database link, for `seconds` from the first one that matches."""

    def __init__(self, starts_on: str, seconds: float):
        self.starts_on, self.seconds = starts_on, seconds
        self.until = None
        self.refused = 0

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        if self.until is None and self.starts_on in statement and "'sent'" in repr(parameters):
            self.until = time.monotonic() + self.seconds
        if self.until is not None and time.monotonic() < self.until:
            self.refused += 1
            raise OperationalError(statement, parameters, ConnectionError("server closed the connection"))


@pytest.fixture
def blip(app):
    injected = []

    def start(starts_on: str, seconds: float) -> Blip:
        fault = Blip(starts_on, seconds)
        event.listen(db.engine, "before_cursor_execute", fault)
        injected.append(fault)
        return fault

    yield start
    for fault in injected:
        event.remove(db.engine, "before_cursor_execute", fault)


def test_a_blip_after_the_server_accepted_a_summary_neither_resends_it_nor_strands_the_batch(
        enrol, smtp_server, clock, blip):
    patients = [enrol() for _ in range(5)]
    # The first "sent" is refused, and everything else for a second and a half, as the link drops.
    fault = blip("UPDATE deliveries", seconds=1.5)

    report = weekly_summaries(clock.now)

    assert fault.refused > 0
    assert (report.send.sent, report.send.retry) == (5, 0)
    assert {row.status for row in ledger()} == {"sent"}
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(p.email for p in patients)

    clock.advance(hours=1)  # past every lease: nothing is taken again
    again = weekly_summaries(clock.now)
    assert again.send.sent == 0 and len(smtp_server.messages) == 5
