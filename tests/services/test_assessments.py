"""Questionnaire schedules (pure), score history and the dashboards' latest scores."""
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest

from schemas.assessment import INSTRUMENT_CODES
from services.assessment_history import latest_scores, score_history
from services.assessment_schedule import due_on, latest_occurrence_on, next_occurrence, open_occurrence
from services.crisis import crisis_signal
from services.days import local_today
from services.instruments import INSTRUMENTS
from tests.factories import assessment_response, questionnaire_answers
from tests.queries import count_queries


@dataclass
class Plan:
    """An assignment as the pure functions see it."""

    starts_on: date
    cadence_days: int
    window_days: int
    id: int | None = 1
    instrument: str = "phq9"
    ended_at: datetime | None = None


D = date.fromisoformat
START = D("2026-11-23")
WEEKLY_3 = Plan(START, cadence_days=7, window_days=3)


# --- occurrences -------------------------------------------------------------

@pytest.mark.parametrize("plan, today, expected", [
    # (occurrence_on, due_until) open today, or None
    (WEEKLY_3, D("2026-11-22"), None),                                      # the day before the first
    (WEEKLY_3, D("2026-11-23"), (D("2026-11-23"), D("2026-11-25"))),        # first day of the window
    (WEEKLY_3, D("2026-11-24"), (D("2026-11-23"), D("2026-11-25"))),
    (WEEKLY_3, D("2026-11-25"), (D("2026-11-23"), D("2026-11-25"))),        # last day of the window
    (WEEKLY_3, D("2026-11-26"), None),                                      # the day after the window
    (WEEKLY_3, D("2026-11-29"), None),                                      # the day before the next
    (WEEKLY_3, D("2026-11-30"), (D("2026-11-30"), D("2026-12-02"))),        # cadence boundary
    (WEEKLY_3, D("2027-03-01"), (D("2027-03-01"), D("2027-03-03"))),        # occurrence 14, across a year end
    (Plan(START, 14, 14), D("2026-12-06"), (D("2026-11-23"), D("2026-12-06"))),  # window = cadence: last day
    (Plan(START, 14, 14), D("2026-12-07"), (D("2026-12-07"), D("2026-12-20"))),  # ... and the next opens
    (Plan(START, 1, 1), D("2026-12-25"), (D("2026-12-25"), D("2026-12-25"))),    # daily
    (Plan(START, 7, 1), D("2026-11-24"), None),                                  # a one-day window
    (Plan(D("2027-02-26"), 2, 2), D("2027-03-01"), (D("2027-02-28"), D("2027-03-01"))),  # end of February
])
def test_an_occurrence_is_open_from_its_day_through_the_last_day_of_its_window(plan, today, expected):
    occurrence = open_occurrence(plan, today)

    assert (None if occurrence is None else (occurrence.occurrence_on, occurrence.due_until)) == expected


@pytest.mark.parametrize("today, expected", [
    (D("2026-11-01"), D("2026-11-23")),   # before the first: the first
    (D("2026-11-23"), D("2026-11-30")),   # on an occurrence: the one after it
    (D("2026-11-26"), D("2026-11-30")),   # between windows
    (D("2026-11-29"), D("2026-11-30")),
    (D("2026-11-30"), D("2026-12-07")),
])
def test_the_next_occurrence_is_the_first_that_opens_after_today(today, expected):
    occurrence = next_occurrence(WEEKLY_3, today)

    assert occurrence.occurrence_on == expected
    assert occurrence.due_until == expected + timedelta(days=2)


@pytest.mark.parametrize("today, expected", [
    (D("2026-11-22"), None), (D("2026-11-23"), D("2026-11-23")), (D("2026-11-29"), D("2026-11-23")),
    (D("2026-11-30"), D("2026-11-30")), (D("2026-12-13"), D("2026-12-07")),
])
def test_occurrences_fall_on_starts_on_plus_whole_cadences(today, expected):
    assert latest_occurrence_on(WEEKLY_3, today) == expected


def test_an_ended_assignment_has_nothing_open_and_nothing_next():
    ended = Plan(START, 7, 3, ended_at=datetime(2026, 11, 23, tzinfo=timezone.utc))

    assert open_occurrence(ended, D("2026-11-23")) is None
    assert next_occurrence(ended, D("2026-11-23")) is None


@pytest.mark.parametrize("timezone_name, today, is_open", [
    ("Asia/Kolkata", D("2026-11-24"), True),            # 01:30 on the 24th
    ("America/Los_Angeles", D("2026-11-23"), False),    # 12:00 on the 23rd
])
def test_the_patients_own_time_zone_decides_whether_an_occurrence_is_open(timezone_name, today, is_open):
    instant = datetime(2026, 11, 23, 20, 0, tzinfo=timezone.utc)
    plan = Plan(D("2026-11-24"), cadence_days=7, window_days=1)

    local = local_today(instant, timezone_name)

    assert local == today
    assert (open_occurrence(plan, local) is not None) is is_open
    assert next_occurrence(plan, local).occurrence_on == (D("2026-12-01") if is_open else D("2026-11-24"))


def test_what_is_due_leaves_out_answered_occurrences_but_still_shows_what_comes_next():
    phq9 = Plan(START, 7, 3, id=1, instrument="phq9")
    gad7 = Plan(START, 14, 3, id=2, instrument="gad7")
    bam = Plan(D("2026-11-26"), 30, 7, id=3, instrument="bam")

    due = due_on([phq9, gad7, bam], {(1, START)}, D("2026-11-24"))

    assert [(o.instrument, o.occurrence_on, o.due_until) for o in due.due] == [
        ("gad7", START, D("2026-11-25")),
    ]
    assert [(o.instrument, o.occurrence_on) for o in due.upcoming] == [
        ("bam", D("2026-11-26")), ("phq9", D("2026-11-30")), ("gad7", D("2026-12-07")),
    ]
    assert due.today == D("2026-11-24")


def test_the_schemas_offer_exactly_the_instruments_that_are_scored():
    assert set(INSTRUMENT_CODES) == set(INSTRUMENTS)


# --- history and latest scores ---------------------------------------------------

def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T15:00:00+00:00")


def phq9(patient, day: str, total: int, item9: int = 0):
    """Store a PHQ-9 with this total (items 1.. filled greedily with 3s)."""
    answers = questionnaire_answers("phq9", {"9": item9})
    left = total - item9
    for item in map(str, range(1, 9)):
        answers[item] = min(3, left)
        left -= answers[item]
    assert left == 0
    return assessment_response(patient, "phq9", answers, at(day), D(day))


def gad7(patient, day: str, default: int):
    return assessment_response(patient, "gad7", questionnaire_answers("gad7", default=default),
                               at(day), D(day))


def test_score_history_is_oldest_first_with_change_from_previous_and_first(make):
    patient = make.patient()
    phq9(patient, "2026-11-02", 20)
    phq9(patient, "2026-11-09", 12)
    phq9(patient, "2026-11-16", 14)
    gad7(patient, "2026-11-10", 2)

    history = score_history(patient.id, "phq9")

    assert [(h["local_day"], h["total"], h["band"]["code"]) for h in history] == [
        (D("2026-11-02"), 20, "severe"), (D("2026-11-09"), 12, "moderate"), (D("2026-11-16"), 14, "moderate"),
    ]
    assert [(h["change"]["from_previous"], h["change"]["from_first"]) for h in history] == [
        (None, None), (-8, -8), (2, -6),
    ]
    assert [(h["change"]["reliable_change_previous"], h["change"]["reliable_change_first"]) for h in history] == [
        (None, None), ("improved", "improved"), ("no reliable change", "improved"),
    ]
    assert [h["instrument"] for h in score_history(patient.id)] == ["phq9", "phq9", "gad7", "phq9"]


def test_latest_scores_gives_each_patients_latest_per_instrument_with_change_from_previous(make):
    clinician = make.clinician()
    improving, quiet, bam_only = (make.patient(clinician) for _ in range(3))
    phq9(improving, "2026-11-02", 18)
    phq9(improving, "2026-11-16", 9, item9=1)
    gad7(improving, "2026-11-03", 2)
    gad7(improving, "2026-11-17", 1)
    bam_answers = questionnaire_answers("bam", {"4": 5, "5": 2})
    assessment_response(bam_only, "bam", bam_answers, at("2026-11-20"), D("2026-11-20"))

    latest = latest_scores([improving.id, quiet.id, bam_only.id])

    assert set(latest) == {improving.id, quiet.id, bam_only.id}
    assert latest[quiet.id] == {}
    phq = latest[improving.id]["phq9"]
    assert (phq["local_day"], phq["total"], phq["band"]["code"], phq["item9"], phq["crisis"]) == (
        D("2026-11-16"), 9, "mild", 1, True)
    assert (phq["change"]["from_previous"], phq["change"]["reliable_change_previous"]) == (-9, "improved")
    assert latest[improving.id]["gad7"]["total"] == 7
    assert latest[improving.id]["gad7"]["change"]["from_previous"] == -7
    bam = latest[bam_only.id]["bam"]
    assert bam["total"] is None and bam["band"] is None
    assert bam["subscales"]["use"]["score"] == 2 + 1  # 5 days -> 2 points, 2 days -> 1 point
    assert bam["change"]["subscales"]["use"] == {"from_previous": None, "from_first": None}


@pytest.mark.parametrize("patients", [2, 20])
def test_latest_scores_runs_one_statement_however_many_patients(make, patients):
    clinician = make.clinician()
    ids = []
    for n in range(patients):
        patient = make.patient(clinician)
        phq9(patient, "2026-11-09", 10 + n % 5)
        phq9(patient, "2026-11-16", 5 + n % 5)
        gad7(patient, "2026-11-16", 1)
        ids.append(patient.id)

    with count_queries() as statements:
        latest = latest_scores(ids)

    assert statements() == 1
    assert all(latest[i]["phq9"]["change"]["from_previous"] == -5 for i in ids)
    assert all(latest[i]["gad7"]["total"] == 7 for i in ids)


def test_latest_scores_of_no_patients_asks_the_database_nothing(app):
    with count_queries() as statements:
        assert latest_scores([]) == {}
    assert statements() == 0


def test_latest_scores_never_mixes_patients(make):
    first, second = make.patient(), make.patient()
    phq9(first, "2026-11-02", 24)
    phq9(second, "2026-11-09", 3)

    latest = latest_scores([first.id, second.id])

    assert latest[second.id]["phq9"]["total"] == 3
    assert latest[second.id]["phq9"]["change"]["from_previous"] is None


@pytest.mark.parametrize("item9, signalled", [(0, False), (1, True), (3, True)])
def test_a_crisis_signal_is_raised_exactly_when_phq9_item_9_is_above_zero(make, item9, signalled):
    patient = make.patient()
    response = phq9(patient, "2026-11-23", 12, item9=item9)

    signal = crisis_signal(response)

    assert (signal is not None) is signalled
    if signalled:
        assert (signal.patient_id, signal.response_id, signal.instrument, signal.item9) == (
            patient.id, response.id, "phq9", item9)
