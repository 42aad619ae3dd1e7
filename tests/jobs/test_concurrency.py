"""Two schedulers at once against PostgreSQL: every summary still goes out once."""
import os
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import text

from models import db
from services.ledger import claim, record_owed
from services.scheduled_mail import owed_weekly_summaries

from .support import ledger

ROOT = Path(__file__).resolve().parents[2]
ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "America/Los_Angeles")


def test_two_scheduler_processes_send_each_summary_once(postgres_only, database_url, enrol, smtp_server, clock):
    patients = [enrol(zone=ZONES[n % len(ZONES)]) for n in range(12)]
    # Hold every message until two connections are sending: the processes run side by side,
    # each claiming small batches, instead of one finishing before the other starts.
    smtp_server.handler.hold_until_peers = 2
    env = dict(os.environ, DATABASE_URL=database_url, SMTP_URL=smtp_server.url, DELIVERY_BATCH_SIZE="2")
    command = [sys.executable, "-m", "flask", "--app", "api", "jobs", "run-once", "weekly-summaries",
               "--now", clock.now.isoformat()]
    processes = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=60) for process in processes]

    assert [process.returncode for process in processes] == [0, 0], outputs
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(p.email for p in patients)
    rows = ledger()
    assert len(rows) == 12 and {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    assert len({r.claimed_by for r in rows}) == 2  # both processes sent some
    assert len({m["Message-ID"] for m in smtp_server.messages}) == 12


def test_a_claim_skips_rows_another_process_holds_instead_of_waiting(postgres_only, app, enrol, clock):
    for _ in range(4):
        enrol()
    record_owed("weekly_summary", owed_weekly_summaries(clock.now), clock.now)
    db.session.commit()
    claimed, holding, release = {}, threading.Event(), threading.Event()

    def first_process():
        with app.app_context():
            claimed["first"] = [d.id for d in claim("weekly_summary", "first", limit=2)]
            holding.set()
            release.wait(10)  # the claim's transaction stays open, its rows locked
            db.session.commit()
            db.session.remove()

    thread = threading.Thread(target=first_process)
    thread.start()
    assert holding.wait(10)
    try:
        with app.app_context():  # another connection
            db.session.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would fail the test
            claimed["second"] = [d.id for d in claim("weekly_summary", "second", limit=10)]
            db.session.commit()
            db.session.remove()
    finally:
        release.set()
        thread.join()

    assert len(claimed["first"]) == 2 and len(claimed["second"]) == 2
    assert sorted(claimed["first"] + claimed["second"]) == [r.id for r in ledger()]
    assert {r.claimed_by for r in ledger()} == {"first", "second"}
