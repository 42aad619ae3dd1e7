"""The window loaders: what SQL summarises of the older check-ins is what a day-by-day walk finds.

recent_checkins reads the check-ins from a day on and summarises the older
ones in SQL (last and first day, the abstinent run up to the window, the
longest run), on SQLite and PostgreSQL alike. Each summary is compared with
tests.services.test_trends_window.earlier_by_walking over the whole history
loaded by checkin_histories, on histories with gaps, relapses, runs that
cross the window's edge, check-ins dated after "today" and none at all.
"""
import random
from datetime import date, datetime, timedelta, timezone

import pytest

from models import Checkin, db
from services.history import checkin_histories, recent_checkins, weekly_histories
from services.summaries import build_weekly_summary
from tests.services.test_trends_window import earlier_by_walking

DAY = timedelta(days=1)
TODAY = date(2026, 11, 23)
WRITTEN = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)


def by_day(record):
    return record.day


def store(patient, days: dict[date, dict]) -> None:
    """Store check-ins straight into the table (reads only: no revisions needed)."""
    db.session.add_all(
        Checkin(patient_id=patient.id, day=day, craving=fields.get("craving", 3), mood=fields.get("mood", 6),
                sleep_hours=fields.get("sleep_hours", 7.0), used_substance=fields.get("used", False),
                coping_skills=fields.get("skills", []), self_harm_thoughts=fields.get("harm", False),
                late=fields.get("late", False), created_at=WRITTEN, updated_at=WRITTEN, version=1)
        for day, fields in days.items()
    )
    db.session.commit()


def streak(first: date, last: date, **fields) -> dict[date, dict]:
    return {first + k * DAY: dict(fields) for k in range((last - first).days + 1)}


def random_history(seed: int, days: int) -> dict[date, dict]:
    rng = random.Random(seed)
    history = {}
    for back in range(-2, days):  # two days after TODAY too: they must not count
        if rng.random() < 0.15:
            continue  # a day without a check-in
        history[TODAY - back * DAY] = {
            "craving": rng.randint(0, 10), "mood": rng.randint(0, 10), "sleep_hours": rng.randint(0, 96) / 4,
            "used": rng.random() < 0.08, "harm": rng.random() < 0.03, "late": rng.random() < 0.1,
            "skills": rng.sample(["mindfulness", "exercise", "urge_surfing", "journaling"], rng.randint(0, 3)),
        }
    return history


@pytest.fixture
def histories(make):
    """Patients whose histories meet the window's edge in every way that matters."""
    clinician = make.clinician()
    edge = TODAY - 89 * DAY  # the weekly window's first day for a week ending today
    shapes = [
        streak(TODAY - 400 * DAY, TODAY),  # abstinent for more than a year, across every edge
        {**streak(TODAY - 300 * DAY, TODAY), edge - DAY: {"used": True}},  # use on the day before the edge
        {**streak(TODAY - 300 * DAY, edge - 2 * DAY), **streak(edge, TODAY)},  # a gap the day before it
        {**streak(TODAY - 300 * DAY, TODAY - 250 * DAY), **streak(TODAY - 20 * DAY, TODAY - 5 * DAY)},
        streak(TODAY - 200 * DAY, TODAY - 120 * DAY, used=True),  # only use, long ago
        streak(TODAY - 10 * DAY, TODAY),  # a new patient: nothing before any edge
        {},  # never checked in
        {TODAY + DAY: {}, TODAY - 500 * DAY: {}},  # one check-in "tomorrow", one long ago
        *(random_history(seed, 420) for seed in range(6)),
    ]
    patients = []
    for shape in shapes:
        patient = make.patient(clinician)
        store(patient, shape)
        patients.append(patient)
    return [patient.id for patient in patients]


@pytest.mark.parametrize("back", [0, 1, 13, 30, 83, 89, 90, 150, 365, 600])
def test_the_sql_summary_of_the_older_checkins_is_the_day_by_day_one(histories, back):
    since = TODAY - back * DAY
    full = checkin_histories(histories)
    loaded = recent_checkins(histories, since, coping_skills=True, longest_run=True)

    assert set(loaded) == set(histories)
    for patient_id in histories:
        records = full[patient_id].records if patient_id in full else []
        harm = full[patient_id].self_harm_days if patient_id in full else []
        history = loaded[patient_id]
        assert history.earlier == earlier_by_walking(records, since), patient_id
        assert sorted(history.records, key=by_day) == sorted((r for r in records if r.day >= since), key=by_day)
        assert sorted(history.self_harm_days) == sorted(day for day in harm if day >= since)


def test_without_the_longest_run_or_the_skills_the_rest_is_the_same(histories):
    since = TODAY - 13 * DAY
    full = checkin_histories(histories)
    loaded = recent_checkins(histories, since)

    for patient_id in histories:
        records = full[patient_id].records if patient_id in full else []
        assert loaded[patient_id].earlier == earlier_by_walking(records, since, longest=False)
        assert sorted(r.day for r in loaded[patient_id].records) == sorted(r.day for r in records if r.day >= since)
        assert all(r.coping_skills == () for r in loaded[patient_id].records)


@pytest.mark.parametrize("weeks_back", [0, 1, 5, 30])
def test_every_weekly_summary_from_the_loaded_window_is_the_one_from_the_whole_history(histories, weeks_back):
    week_start = TODAY - (TODAY.weekday() + 7 + 7 * weeks_back) * DAY
    full = checkin_histories(histories)
    # A batch loads from its earliest week; a patient's own week may be later.
    loaded = weekly_histories(histories, week_start - 7 * DAY)

    for patient_id in histories:
        records = full[patient_id].records if patient_id in full else []
        for recovery_start in (None, TODAY - 100 * DAY):
            assert build_weekly_summary(loaded[patient_id].records, week_start, recovery_start=recovery_start,
                                        earlier=loaded[patient_id].earlier) == \
                build_weekly_summary(records, week_start, recovery_start=recovery_start), patient_id


def test_no_patients_is_no_statement():
    assert recent_checkins([], TODAY) == {}


@pytest.mark.parametrize("seed", range(4))
def test_the_summary_from_sqlites_day_lists_does_not_depend_on_their_order(seed):
    """group_concat's order is SQLite's to choose (services.history._earlier_checkins)."""
    from services.history import _DayNumbers, _earlier_from_days
    from services.trends import EarlierCheckins

    days = [TODAY - k * DAY for k in range(1, 31) if k not in (4, 11)]  # runs 1-3, 5-10, 12-30 days back
    rng = random.Random(seed)
    rng.shuffle(days)
    listed = ",".join(day.isoformat() for day in days)
    first, last = TODAY - 30 * DAY, TODAY - DAY

    def summary(days, use_days):
        return _earlier_from_days(TODAY, days, use_days, _DayNumbers())

    # Use 19 days back splits the last run into 12-18 and 20-30: eleven days.
    assert summary(listed, (TODAY - 19 * DAY).isoformat()) == EarlierCheckins(TODAY, first, last, 3, 11)
    assert summary(listed, None) == EarlierCheckins(TODAY, first, last, 3, 19)
    assert summary(listed, last.isoformat()) == EarlierCheckins(TODAY, first, last, 0, 19)
    assert summary(listed, listed) == EarlierCheckins(TODAY, first, last, 0, 0)
    assert summary(None, None) == EarlierCheckins(TODAY, longest_run=0)
