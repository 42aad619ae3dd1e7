"""One patient, one figure: the caseload, the dashboard, trends and both summaries agree.

A figure shown in two places is computed by one function (services.trends);
these tests read every view of the same patient through the API (and the
weekly e-mail's summary as its job builds it) and compare each figure the
views share, for patients of the shapes where the views once disagreed:
enrolled this week with days filled in before enrolment, one day filled in
long before enrolment, late entries with use, gaps and a recovery start
after enrolment, no check-in at all, and a slope exactly on the steady limit.

The frozen today is Sunday 2026-11-29 in New York, the last day of the week
2026-W48, so the weekly summary of that week describes the same "today".
"""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from models import Checkin, db
from services.history import weekly_histories
from services.summaries import build_weekly_summary
from tests.factories import create_checkins

TODAY = date(2026, 11, 29)  # a Sunday
WEEK_START = date(2026, 11, 23)
METRICS = ("craving", "mood", "sleep_hours")


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def recovery_weeks() -> dict:
    """Fifty days with use on three, a gap of two days and one of a day, and moving scores."""
    return {ago(n): {"craving": (n * 7) % 11, "mood": 10 - (n * 3) % 11, "sleep_hours": 4 + (n % 9) * 0.5,
                     "used_substance": n in (3, 15, 30)}
            for n in range(50, -1, -1) if n not in (9, 10, 20)}


# name: (enrolled days ago, recovery start days ago or None, check-ins, days filled in late)
SHAPES = {
    "enrolled this week, three days filled in before": (
        2, None, {ago(n): {"craving": 6 - n} for n in (6, 5, 4, 1, 0)}, (6, 5, 4)),
    "enrolled today, one day filled in twenty days before": (
        0, None, {ago(20): {}, ago(0): {}}, (20,)),
    "late entries and use, recovering since before enrolment": (
        40, 70, recovery_weeks(), (5, 6, 45)),
    "gaps, today not yet checked in, recovery start after enrolment": (
        30, 10, {ago(n): {"craving": 8 - n // 4, "mood": 3 + n % 4, "used_substance": n == 7}
                 for n in range(28, 0, -2)}, (2,)),
    "never checked in": (10, None, {}, ()),
    "a craving slope exactly on the steady limit": (
        20, None, {ago(13): {"craving": 0}, ago(11): {"craving": 0}, ago(9): {"craving": 1}, ago(7): {"craving": 0}},
        ()),
}


@pytest.fixture
def clock_on_sunday(clock):
    clock.now = datetime(2026, 11, 29, 17, 0, tzinfo=timezone.utc)  # noon in New York
    return clock


@pytest.fixture(params=list(SHAPES))
def shaped(request, make, clock_on_sunday):
    """A patient of one shape, on a clinician's care team; return (clinician, patient)."""
    enrolled_ago, recovery_ago, checkins, late = SHAPES[request.param]
    clinician = make.clinician()
    now = clock_on_sunday.now
    clock_on_sunday.now = now - timedelta(days=enrolled_ago)
    try:
        patient = make.patient(clinician)
    finally:
        clock_on_sunday.now = now
    # Set afterwards: a recovery start after enrolment was in the future when the patient enrolled.
    patient.patient_profile.recovery_start_date = None if recovery_ago is None else ago(recovery_ago)
    db.session.commit()
    create_checkins(patient, checkins)
    if late:
        db.session.execute(update(Checkin).where(
            Checkin.patient_id == patient.id, Checkin.day.in_([ago(n) for n in late])).values(late=True))
        db.session.commit()
    return clinician, patient


def read(client, make, user, url, **query) -> dict:
    response = client.get(url, headers=make.headers(user), query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def weekly_summary(patient):
    """The week 2026-W48 as the weekly e-mail's job sums it up (jobs.weekly.compose_weekly_summaries)."""
    history = weekly_histories([patient.id], WEEK_START)[patient.id]
    return build_weekly_summary(history.records, WEEK_START, earlier=history.earlier,
                                recovery_start=patient.patient_profile.recovery_start_date)


def test_every_view_of_a_patient_shows_the_same_figures(client, make, shaped):
    clinician, patient = shaped
    row = read(client, make, clinician, "/api/v1/caseload")["items"][0]
    kept_row = read(client, make, clinician, "/api/v1/caseload")["items"][0]  # now from caseload_rows
    dashboard = read(client, make, clinician, f"/api/v1/patients/{patient.id}/dashboard")
    trends = read(client, make, clinician, f"/api/v1/patients/{patient.id}/trends")
    own_trends = read(client, make, patient, "/api/v1/me/trends")
    home = read(client, make, patient, "/api/v1/me/summary")
    week = weekly_summary(patient)

    assert kept_row == row
    assert dashboard["trends"] == trends == own_trends
    assert dashboard["risk"] == row["risk"]

    # The last check-in and the current streak.
    assert row["last_checkin"] == trends["last_checkin"]
    assert row["today"] == trends["today"] == home["today"] == TODAY.isoformat()
    streaks = trends["abstinence"]
    assert row["current_streak"] == streaks["current_streak"] == home["current_streak"] == week.current_streak
    assert streaks["longest_streak"] == home["longest_streak"] == week.longest_streak
    assert streaks["days_since_recovery_start"] == home["days_since_recovery_start"]

    # 7-day means and the 14-day slope with its direction, metric by metric.
    for metric in METRICS:
        shown, trend = row["means_7"][metric], trends["metrics"][metric]
        weekly = week.metric(metric)
        assert (shown["value"], shown["n"]) == (trend["mean_7"]["value"], trend["mean_7"]["n"])
        assert (shown["value"], shown["n"]) == (weekly.this_week, weekly.n_this)
        assert (shown["slope"], shown["slope_n"], shown["direction"]) == (
            trend["slope_14"]["value"], trend["slope_14"]["n"], trend["slope_14"]["direction"])
        change = trend["week_over_week"]
        assert (change["value"], change["mean_last"], change["n_last"]) == (weekly.change, weekly.last_week,
                                                                             weekly.n_last)

    # Check-in adherence over 7 days, the same whatever window the trends show.
    adherence_7 = {key: trends["adherence_7"][key] for key in ("percent", "days_reported", "days_in_window")}
    assert row["adherence_7"] == adherence_7
    for window in (7, 90):
        other = read(client, make, clinician, f"/api/v1/patients/{patient.id}/trends", window=window)
        assert other["adherence_7"] == trends["adherence_7"]
        assert other["abstinence"] == trends["abstinence"]

    # Percent days abstinent over 30 days.
    pda_30 = streaks["pda"]["30"]
    assert home["percent_days_abstinent_30"] == pda_30
    assert (week.pda_30, week.pda_30_days_reported) == (pda_30["missing_excluded"], pda_30["days_reported"])


def test_the_shapes_read_as_a_clinician_would_work_them_out(client, make, clock_on_sunday):
    """The figures the views agree on are the right ones, worked out by hand for three shapes."""
    clinician = make.clinician()
    shapes = {}
    for name in ("enrolled this week, three days filled in before",
                 "enrolled today, one day filled in twenty days before",
                 "a craving slope exactly on the steady limit"):
        enrolled_ago, _recovery, checkins, _late = SHAPES[name]
        now = clock_on_sunday.now
        clock_on_sunday.now = now - timedelta(days=enrolled_ago)
        try:
            shapes[name] = make.patient(clinician, name=name)
        finally:
            clock_on_sunday.now = now
        create_checkins(shapes[name], checkins)
    page = read(client, make, clinician, "/api/v1/caseload")
    rows = {item["patient"]["display_name"]: item for item in page["items"]}

    this_week = rows["enrolled this week, three days filled in before"]
    # The 27th (enrolment, no check-in) to today, and the 23rd to the 25th
    # filled in: 5 reported of 6; the 26th, before the app, is not counted.
    assert this_week["adherence_7"] == {"percent": 83.3, "days_reported": 5, "days_in_window": 6}
    today_only = shapes["enrolled today, one day filled in twenty days before"]
    pda_30 = read(client, make, clinician, f"/api/v1/patients/{today_only.id}/trends")["abstinence"]["pda"]["30"]
    # Two days reported, both abstinent; the 19 unreported days between came before the app.
    assert (pda_30["missing_as_use"], pda_30["days_in_window"]) == (100.0, 2)
    # Craving 0, 0, 1, 0 on days 0, 2, 4 and 6 of the 14: exactly 0.05 a day, within the limit.
    craving = rows["a craving slope exactly on the steady limit"]["means_7"]["craving"]
    assert (craving["slope"], craving["slope_n"], craving["direction"]) == (0.05, 4, "steady")
