"""The scheduler process: APScheduler 3 in its own process, jobs declared as data.

``flask --app api jobs run`` runs it beside the API (never inside a web
worker: gunicorn would start one scheduler per worker).

Jobs poll
    Every job runs every few minutes and decides for itself what is owed
    at that moment (a summary is owed from Monday 08:00 *in the patient's
    zone*, so there is no single cron time to fire at). A DST change
    therefore cannot make a job fire twice or skip a week: it only moves
    the UTC instant at which one patient's e-mail becomes owed, and the
    delivery ledger sends each (recipient, kind, period) once.

Catch-up after downtime (the misfire policy)
    The job store is persistent (SQLAlchemyJobStore, table JOBSTORE_TABLE
    in the app's database), so a restarted scheduler knows when each job
    should last have run. With ``coalesce=True`` the runs missed while it
    was down collapse into one, and ``misfire_grace_time`` of MISFIRE_GRACE
    (over a week) lets that one run at once instead of being dropped as
    APScheduler's one-second default would. The job then sends whatever is
    still owed: the summary of a week missed while the scheduler was down
    goes out once, when it comes back. The ledger, not the scheduler, is
    what makes a second run (or a second scheduler) harmless.

Restarts keep the store's schedule
    On start the scheduler is started paused and the declared jobs are
    reconciled with the store: new ids are added (to run at once), changed
    intervals rescheduled, stale ids removed, and a job whose definition is
    unchanged keeps its stored next run time, so the misfire policy above
    sees the downtime.
"""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy.pool import NullPool

from models import db

from .alerts import alerts_daily_pass
from .caseload import caseload_rows
from .outbox import immediate_mail
from .reminders import daily_reminders
from .report import JobReport
from .weekly import clinician_digests, weekly_summaries

log = logging.getLogger("waypoint.jobs")

JOBSTORE_TABLE = "apscheduler_jobs"
MISFIRE_GRACE = timedelta(days=8)
JOB_DEFAULTS = {
    "coalesce": True,
    "misfire_grace_time": int(MISFIRE_GRACE.total_seconds()),
    "max_instances": 1,  # a slow run is never overtaken by the next one of the same job
}
# What APScheduler stores: a textual reference and a job id, so the store survives code changes.
ENTRY_POINT = "jobs.scheduler:run_scheduled"
WORKERS = 3


@dataclass(frozen=True)
class ScheduledJob:
    """One job: a stable id, the function, how often it runs."""

    id: str
    function: Callable[..., JobReport]
    every: timedelta
    description: str
    takes_week: bool = False  # run-once --week applies

    @property
    def trigger(self) -> IntervalTrigger:
        return IntervalTrigger(seconds=int(self.every.total_seconds()), timezone=timezone.utc)


JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob("weekly-summaries", weekly_summaries, timedelta(minutes=5),
                 "Each patient's weekly summary, Monday 08:00 in their own zone", takes_week=True),
    ScheduledJob("clinician-digests", clinician_digests, timedelta(minutes=5),
                 "Each clinician's weekly caseload digest, Monday 08:00", takes_week=True),
    ScheduledJob("daily-reminders", daily_reminders, timedelta(minutes=5),
                 "A check-in reminder at each patient's chosen local time"),
    ScheduledJob("alerts-daily-pass", alerts_daily_pass, timedelta(hours=1),
                 "Disengagement alerts for patients who went quiet"),
    ScheduledJob("caseload-rows", caseload_rows, timedelta(minutes=15),
                 "Each stale caseload row recomputed ahead of the views (a new local day, a write)"),
    ScheduledJob("immediate-mail", immediate_mail, timedelta(minutes=1),
                 "Urgent notices and password-reset mail a web process left unsent (retries, dead workers)"),
)


def declared_jobs() -> dict[str, ScheduledJob]:
    """Return the jobs this code base can run, by id."""
    return {job.id: job for job in JOBS}


# --- running a job --------------------------------------------------------------------------------

_app: Flask | None = None


def run_job(job_id: str, now: datetime | None = None, week: str | None = None) -> JobReport:
    """Run one job in the current app context; KeyError for an unknown id."""
    job = declared_jobs()[job_id]
    if week is not None and not job.takes_week:
        raise ValueError(f"{job_id} does not take --week")
    kwargs = {"week": week} if week is not None else {}
    return job.function(now, **kwargs)


def run_scheduled(job_id: str) -> dict:
    """APScheduler's entry point: run a job inside its own app context and session."""
    if _app is None:
        raise RuntimeError("the scheduler was not started with start_scheduler(app)")
    with _app.app_context():
        try:
            report = run_job(job_id)
        finally:
            db.session.remove()
    log.info("%s", report.line())
    return report.to_dict()


# --- the scheduler ----------------------------------------------------------------------------------

def build_scheduler(app: Flask, jobstore=None) -> BackgroundScheduler:
    """Return a scheduler whose job store is a table in the app's database (not started).

    The store gets an engine of its own, without a pool: it runs a few
    statements every few minutes, and APScheduler disposes of its engine on
    shutdown while its own thread may still hold a connection.
    """
    if jobstore is None:
        jobstore = SQLAlchemyJobStore(url=app.config["SQLALCHEMY_DATABASE_URI"], tablename=JOBSTORE_TABLE,
                                      engine_options={"poolclass": NullPool})
    return BackgroundScheduler(
        jobstores={"default": jobstore}, executors={"default": ThreadPoolExecutor(WORKERS)},
        job_defaults=JOB_DEFAULTS, timezone=timezone.utc,
    )


def start_scheduler(app: Flask, scheduler: BackgroundScheduler) -> None:
    """Start the scheduler with the declared jobs, keeping the stored schedule of unchanged ones."""
    global _app
    _app = app
    scheduler.start(paused=True)
    reconcile(scheduler)
    scheduler.resume()


def reconcile(scheduler: BackgroundScheduler, now: datetime | None = None) -> None:
    """Make the store hold exactly the declared jobs; leave the next run time of unchanged ones alone."""
    declared = declared_jobs()
    for stored in scheduler.get_jobs():
        if stored.id not in declared:
            log.info("removing job %s: no longer declared", stored.id)
            scheduler.remove_job(stored.id)
    for job in declared.values():
        stored = scheduler.get_job(job.id)
        if stored is None:
            scheduler.add_job(ENTRY_POINT, job.trigger, args=[job.id], id=job.id, name=job.description,
                              next_run_time=now or datetime.now(timezone.utc), **JOB_DEFAULTS)
            continue
        if str(stored.trigger) != str(job.trigger):
            scheduler.reschedule_job(job.id, trigger=job.trigger)
        if (stored.func_ref, tuple(stored.args), stored.name) != (ENTRY_POINT, (job.id,), job.description) or any(
            getattr(stored, key) != value for key, value in JOB_DEFAULTS.items()
        ):
            scheduler.modify_job(job.id, func=ENTRY_POINT, args=[job.id], name=job.description, **JOB_DEFAULTS)


def run_forever(app: Flask) -> None:
    """Run the scheduler until SIGINT or SIGTERM; let running jobs finish."""
    scheduler = build_scheduler(app)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    start_scheduler(app, scheduler)
    for job in scheduler.get_jobs():
        log.info("job %s every %s, next run %s", job.id, job.trigger, job.next_run_time)
    stop.wait()
    log.info("stopping the scheduler; running jobs finish first")
    scheduler.shutdown(wait=True)
