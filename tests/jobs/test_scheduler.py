"""The scheduler process: declared jobs, a persistent store, and one catch-up run after downtime."""
import time
from datetime import datetime, timedelta, timezone

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from sqlalchemy import inspect, text

from jobs.scheduler import (
    ENTRY_POINT,
    JOBSTORE_TABLE,
    MISFIRE_GRACE,
    build_scheduler,
    declared_jobs,
    reconcile,
    start_scheduler,
)
from models import db

from .support import ledger


@pytest.fixture
def jobstore(app):
    """The job store's table in the test database; dropped afterwards (it is not in our metadata)."""
    yield JOBSTORE_TABLE
    with db.engine.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {JOBSTORE_TABLE}"))


def stored_jobs(app):
    scheduler = build_scheduler(app)
    scheduler.start(paused=True)
    try:
        return {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)


def test_the_jobs_are_data_with_stable_ids_and_a_catch_up_policy(app, jobstore):
    scheduler = build_scheduler(app)
    scheduler.start(paused=True)
    try:
        reconcile(scheduler)
    finally:
        scheduler.shutdown(wait=False)

    jobs = stored_jobs(app)
    assert {"weekly-summaries", "clinician-digests", "daily-reminders"} <= set(jobs) == set(declared_jobs())
    assert JOBSTORE_TABLE in inspect(db.engine).get_table_names()
    for job_id, job in jobs.items():
        assert (job.func_ref, job.args) == (ENTRY_POINT, (job_id,))
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == MISFIRE_GRACE.total_seconds() > timedelta(days=7).total_seconds()
    assert str(jobs["weekly-summaries"].trigger) == "interval[0:05:00]"
    assert str(jobs["daily-reminders"].trigger) == "interval[0:05:00]"


def test_a_restart_keeps_the_stored_schedule_and_drops_jobs_no_longer_declared(app, jobstore):
    later = datetime(2030, 1, 1, tzinfo=timezone.utc)
    first = build_scheduler(app)
    first.start(paused=True)
    reconcile(first)
    first.modify_job("weekly-summaries", next_run_time=later)
    first.add_job(ENTRY_POINT, "interval", minutes=5, args=["retired-job"], id="retired-job")
    first.shutdown(wait=False)

    second = build_scheduler(app)
    second.start(paused=True)
    reconcile(second)
    second.shutdown(wait=False)

    jobs = stored_jobs(app)
    assert "retired-job" not in jobs
    assert jobs["weekly-summaries"].next_run_time == later


def test_a_restarted_scheduler_sends_the_week_it_missed_once(app, jobstore, enrol, smtp_server, clock):
    patient = enrol()  # W47 is owed at the frozen clock (Monday noon in New York)
    real_now = datetime.now(timezone.utc)
    before = build_scheduler(app)
    before.start(paused=True)
    reconcile(before)
    for job in before.get_jobs():
        # The scheduler was down for three days over the weekly send time; the other jobs are not due.
        due = real_now - timedelta(days=3) if job.id == "weekly-summaries" else real_now + timedelta(days=1)
        before.modify_job(job.id, next_run_time=due)
    # It stands for a process that was killed: APScheduler 3 would look at due jobs once more while
    # shutting a paused scheduler down, which a killed process never does.
    before._process_jobs = lambda: None
    before.shutdown(wait=False)

    events = []
    after = build_scheduler(app)
    after.add_listener(lambda event: events.append((event.code, event.job_id)),
                       EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    start_scheduler(app, after)
    deadline = time.monotonic() + 5
    while not events and time.monotonic() < deadline:
        time.sleep(0.02)
    after.shutdown(wait=True)

    # Hundreds of missed five-minute runs, coalesced into one that ran (not one "missed").
    assert events == [(EVENT_JOB_EXECUTED, "weekly-summaries")]
    assert [m["To"] for m in smtp_server.messages] == [patient.email]
    assert [(r.period, r.status) for r in ledger()] == [("2026-W47", "sent")]
    assert stored_jobs(app)["weekly-summaries"].next_run_time > real_now
