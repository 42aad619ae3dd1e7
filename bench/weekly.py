"""P3 in a process of its own: every patient's weekly figures, then one scan of the table.

`python -m bench.weekly --url URL --patients N [--scan]` prints one JSON line:
the seconds the figures took, the process's peak RSS and its RSS before the
figures started, with --scan the seconds one full scan took, and the time to
render a sample of the e-mails.

A process per measurement, so that the peak memory is this computation's
alone. The figures are the weekly job's own path (jobs/weekly.py): the
check-ins loaded with services.history.weekly_histories (the 90 days the
summary reads, the older ones summarised), one delivery
batch of patients at a time (services.ledger.BATCH_SIZE) as the job does, and
services.summaries.build_weekly_summary for the latest week owed in each
patient's zone; rendering is jobs.emails.render_weekly_summary.
"""
import argparse
import json
import sys
import time
from datetime import datetime, timezone

from sqlalchemy import select

from api import create_app
from jobs.emails import Links, render_weekly_summary
from models import PatientProfile, db
from services.history import weekly_histories
from services.ledger import BATCH_SIZE as CHUNK_PATIENTS
from services.summaries import build_weekly_summary, latest_owed_week

RENDER_SAMPLE = 200  # summaries kept aside to time the e-mail rendering
# The columns the statistics read (checkin_histories), straight from the driver.
SCAN_SQL = ("SELECT patient_id, day, craving, mood, sleep_hours, used_substance, coping_skills, late, "
            "self_harm_thoughts FROM checkins")


def figure_function():
    """Return (name, f(history, now, profile row) -> figures): the weekly job's summary."""

    def weekly(history, now, row):
        return build_weekly_summary(history.records if history else [], latest_owed_week(now, row.timezone),
                                    recovery_start=row.recovery_start_date,
                                    earlier=getattr(history, "earlier", None))

    return "services.summaries.build_weekly_summary", weekly


def weekly_figures(patients, now: datetime, figures):
    """Yield (profile row, figures) for each (user_id, timezone, recovery_start_date) row."""

    def load(chunk):  # as jobs.weekly.compose_weekly_summaries does for a batch
        earliest = min(latest_owed_week(now, row.timezone) for row in chunk)
        return weekly_histories([row.user_id for row in chunk], earliest)

    for start in range(0, len(patients), CHUNK_PATIENTS):
        chunk = patients[start:start + CHUNK_PATIENTS]
        histories = load(chunk)
        for row in chunk:
            yield row, figures(histories.get(row.user_id), now, row)


def render_seconds(summaries) -> float | None:
    """Return the seconds to render each summary's e-mail, on average; None without summaries."""
    if not summaries or not hasattr(summaries[0], "week_start"):
        return None
    links = Links("https://waypoint.example/summary", "https://waypoint.example/preferences",
                  "https://waypoint.example/unsubscribe")
    render_weekly_summary(summaries[0], name="Warm Up", links=links)  # template compilation
    started = time.perf_counter()
    for summary in summaries:
        render_weekly_summary(summary, name="Bench Patient", links=links)
    return (time.perf_counter() - started) / len(summaries)


def full_scan(engine) -> int:
    """Read every check-in row once through the driver; return how many."""
    rows = 0
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, max_row_buffer=5000).exec_driver_sql(SCAN_SQL)
        for _row in result:
            rows += 1
    return rows


def _memory_mb(field: str) -> float:
    """Return VmRSS (now) or VmHWM (peak) of this process, in MB.

    Not getrusage's ru_maxrss: Linux carries that over from the parent
    across fork and exec, so a child of a big harness reports the harness.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.weekly")
    parser.add_argument("--url", required=True)
    parser.add_argument("--patients", type=int, required=True)
    parser.add_argument("--scan", action="store_true")
    args = parser.parse_args(argv)
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.url})
    with app.app_context():
        patients = db.session.execute(
            select(PatientProfile.user_id, PatientProfile.timezone, PatientProfile.recovery_start_date)
            .order_by(PatientProfile.user_id).limit(args.patients)
        ).all()
        now = datetime.now(timezone.utc)
        implementation, figures = figure_function()
        rss_before = _memory_mb("VmRSS")
        started = time.perf_counter()
        computed = 0
        sample: list[object] = []
        for _row, summary in weekly_figures(patients, now, figures):
            computed += 1
            if len(sample) < RENDER_SAMPLE:
                sample.append(summary)
        compute_s = time.perf_counter() - started
        db.session.remove()
        peak_mb = _memory_mb("VmHWM")
        outcome = {"patients": computed, "compute_s": compute_s, "rss_before_mb": rss_before,
                   "peak_rss_mb": peak_mb, "implementation": implementation}
        render = render_seconds(sample)
        if render is not None:
            outcome["render_ms_per_email"] = 1000 * render
        if args.scan:
            started = time.perf_counter()
            outcome["rows_scanned"] = full_scan(db.engine)
            outcome["scan_s"] = time.perf_counter() - started
        db.engine.dispose()
    print("WEEKLYJSON " + json.dumps(outcome), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
