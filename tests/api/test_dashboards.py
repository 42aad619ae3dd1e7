"""The care team's views: the caseload, the patient dashboard, the program report; the patient's summary.

The frozen clock is Monday 2026-11-23, noon in New York, where every patient
here lives. Figures are checked against numbers worked out by hand in the
test, never against the service's own helpers (except the trends block,
which must be exactly services.trends.patient_trends).
"""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from models import Checkin, LevelOfCare, Program, User, db
from services.program_report import program_report
from services.trends import DayRecord, patient_trends
from tests.factories import (
    assessment_assignment,
    assessment_response,
    checkin_body,
    create_checkins,
    create_goal,
    create_program,
    create_session,
    place_in_program,
    problem,
    questionnaire_answers,
)
from tests.queries import count_queries

TODAY = date(2026, 11, 23)
THIS_WEEK = date(2026, 11, 23)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def at_noon(day: date) -> datetime:
    """Noon in New York on day (EST, as every day here is after the DST change)."""
    return datetime(day.year, day.month, day.day, 17, tzinfo=timezone.utc)


def enrol(make, clock, clinician=None, *, days_ago: int = 30, **kwargs):
    """Enrol a patient days_ago days before the frozen today."""
    with clock.moved_to(clock.now - timedelta(days=days_ago)):
        return make.patient(clinician, **kwargs)


def daily(first_ago: int, last_ago: int = 0, **fields) -> dict:
    """The same check-in on every day from first_ago days ago to last_ago days ago."""
    return {ago(n): dict(fields) for n in range(first_ago, last_ago - 1, -1)}


def phq9(total: int) -> dict:
    """PHQ-9 answers adding up to total (0..24), item 9 left at 0."""
    answers = {}
    for item in range(1, 9):
        answers[str(item)] = min(3, max(0, total - 3 * (item - 1)))
    assert sum(answers.values()) == total
    return questionnaire_answers("phq9", answers)


def gad7(total: int) -> dict:
    answers = {str(item): min(3, max(0, total - 3 * (item - 1))) for item in range(1, 8)}
    assert sum(answers.values()) == total
    return questionnaire_answers("gad7", answers)


def score(patient, instrument: str, total: int, day: date):
    answers = phq9(total) if instrument == "phq9" else gad7(total)
    return assessment_response(patient, instrument, answers, at_noon(day), day)


def caseload(client, headers, **query):
    response = client.get("/api/v1/caseload", headers=headers, query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.json


def names(page: dict) -> list[str]:
    return [row["patient"]["display_name"] for row in page["items"]]


# --- the caseload: whose patients ---------------------------------------------------

@pytest.fixture
def two_teams(make):
    """Two clinicians of one clinic, a patient they share, and a patient at another clinic."""
    clinic = make.organization("Harbor Recovery")
    first, second = make.clinician(clinic), make.clinician(clinic)
    ann = make.patient(first, name="Ann")
    ben = make.patient(first, name="Ben")
    cal = make.patient(second, name="Cal")
    eve = make.patient(second, name="Eve")
    make.add_to_care_team(eve, first)
    elsewhere = make.patient(name="Dee")  # a clinician of a new clinic enrols her
    return {"clinic": clinic, "first": first, "second": second, "elsewhere": elsewhere,
            "patients": {"Ann": ann, "Ben": ben, "Cal": cal, "Eve": eve}}


def test_a_clinician_sees_only_patients_on_their_care_team(client, make, two_teams):
    page = caseload(client, make.headers(two_teams["first"]), sort="name")

    assert names(page) == ["Ann", "Ben", "Eve"]  # Eve once, though she has two clinicians
    assert page["total"] == 3
    assert [row["patient"]["id"] for row in page["items"]] == [
        two_teams["patients"][name].id for name in ("Ann", "Ben", "Eve")]


def test_an_admin_sees_the_whole_organization_and_nothing_of_another(client, make, two_teams):
    admin = make.admin(two_teams["clinic"])
    other_admin = make.admin(two_teams["elsewhere"].organization)

    assert names(caseload(client, make.headers(admin), sort="name")) == ["Ann", "Ben", "Cal", "Eve"]
    assert names(caseload(client, make.headers(other_admin), sort="name")) == ["Dee"]


def test_a_clinician_without_patients_has_an_empty_caseload(client, make, two_teams):
    newcomer = make.clinician(two_teams["clinic"])

    assert caseload(client, make.headers(newcomer)) == {"items": [], "total": 0, "page": 1, "page_size": 50}


def test_a_deactivated_patient_leaves_the_caseload(client, make, two_teams):
    two_teams["patients"]["Ben"].is_active = False
    db.session.commit()

    assert names(caseload(client, make.headers(two_teams["first"]), sort="name")) == ["Ann", "Eve"]


def test_a_patient_may_not_read_a_caseload(client, make, two_teams):
    response = client.get("/api/v1/caseload", headers=make.headers(two_teams["patients"]["Ann"]))

    body = problem(response, 403)
    assert "items" not in body


def test_the_caseload_needs_a_login(client):
    problem(client.get("/api/v1/caseload"), 401)


# --- the caseload: the figures of one row --------------------------------------------

def least_squares_slope(points: list[tuple[int, float]]) -> float:
    """Textbook slope (n Sxy - Sx Sy) / (n Sxx - Sx^2) of (day number, value) points."""
    n = len(points)
    sx = sum(x for x, _ in points)
    sy = sum(y for _, y in points)
    sxy = sum(x * y for x, y in points)
    sxx = sum(x * x for x, _ in points)
    return (n * sxy - sx * sy) / (n * sxx - sx * sx)


# Hannah's last week, by hand. No check-in 4 days ago; use yesterday.
HANNAH = {
    ago(6): {"craving": 4, "mood": 5, "sleep_hours": 7.0},
    ago(5): {"craving": 3, "mood": 6, "sleep_hours": 6.5},
    ago(3): {"craving": 2, "mood": 6, "sleep_hours": 8.0},
    ago(2): {"craving": 3, "mood": 6, "sleep_hours": 7.0},
    ago(1): {"craving": 5, "mood": 4, "sleep_hours": 5.0, "used_substance": True, "substances": ["alcohol"]},
    ago(0): {"craving": 2, "mood": 7, "sleep_hours": 8.0},
}


@pytest.fixture
def three_patients(make, clock):
    """Hannah (use yesterday: high), Mel (quiet for 4 days: medium), Lou (steady: low)."""
    clinician = make.clinician()
    hannah = enrol(make, clock, clinician, name="Hannah")
    create_checkins(hannah, HANNAH)
    score(hannah, "phq9", 16, ago(10))
    score(hannah, "phq9", 12, ago(3))
    score(hannah, "gad7", 6, ago(3))
    for day, status in ((ago(20), "missed"), (ago(10), "attended"), (ago(5), "attended"), (ago(3), "excused")):
        create_session(hannah, day, clinician, status=status)
    mel = enrol(make, clock, clinician, name="Mel")
    create_checkins(mel, daily(12, 4))
    lou = enrol(make, clock, clinician, name="Lou")
    create_checkins(lou, daily(13, 0))
    return clinician, hannah, mel, lou


def test_each_caseload_figure_matches_a_hand_computation(client, make, three_patients):
    clinician, hannah, _mel, _lou = three_patients

    row = next(r for r in caseload(client, make.headers(clinician))["items"] if r["patient"]["id"] == hannah.id)

    # 7-day means over the 6 check-ins of today-6 .. today
    assert row["means_7"]["craving"]["value"] == 3.17  # (4+3+2+3+5+2) / 6 = 19/6
    assert row["means_7"]["mood"]["value"] == 5.67  # (5+6+6+6+4+7) / 6 = 34/6
    assert row["means_7"]["sleep_hours"]["value"] == 6.92  # (7+6.5+8+7+5+8) / 6 = 41.5/6
    assert {metric: figure["n"] for metric, figure in row["means_7"].items()} == {
        "craving": 6, "mood": 6, "sleep_hours": 6}
    # 14-day slopes (all 6 check-ins fall in the 14 days), direction as services.trends defines it:
    # improving is down for craving and up for mood and sleep; |slope| under 0.05 (0.03 for sleep) is steady.
    for metric, direction in (("craving", "improving"), ("mood", "improving"), ("sleep_hours", "steady")):
        points = [(13 - (TODAY - day).days, checkin_body(**fields)[metric]) for day, fields in HANNAH.items()]
        assert row["means_7"][metric]["slope"] == round(least_squares_slope(points), 3)
        assert (row["means_7"][metric]["direction"], row["means_7"][metric]["slope_n"]) == (direction, 6)
    assert [row["means_7"][m]["slope"] for m in ("craving", "mood", "sleep_hours")] == [-0.081, 0.087, 0.003]
    assert row["current_streak"] == 1  # today abstinent, yesterday use
    assert (row["last_checkin"], row["days_since_last_checkin"], row["today"]) == ("2026-11-23", 0, "2026-11-23")
    # check-ins on 6 of the 7 days today-6 .. today (enrolled 30 days ago)
    assert row["adherence_7"] == {"percent": 85.7, "days_reported": 6, "days_in_window": 7}
    # 14 days: 2 attended, the excused one left out, the missed one 20 days ago too old
    assert row["attendance_14"] == {"attended": 2, "missed": 0, "rate": 100.0}
    assert row["open_alerts"] == 0
    assert row["level_of_care"] == "iop" and row["program"] is None


def test_caseload_adherence_counts_from_enrolment_as_the_risk_rule_does(client, make, clock):
    # Recovering since October, enrolled 3 days ago: the days before enrolment had no app to check in with.
    clinician = make.clinician()
    patient = enrol(make, clock, clinician, days_ago=3, recovery_start_date=date(2026, 10, 1))
    create_checkins(patient, daily(3, 0))

    row = caseload(client, make.headers(clinician))["items"][0]

    assert row["adherence_7"] == {"percent": 100.0, "days_reported": 4, "days_in_window": 4}
    assert row["risk"] == {"level": "low", "reasons": []}


def test_caseload_adherence_counts_days_filled_in_before_enrolment_as_the_trends_do(client, make, clock):
    # Enrolled this week (two days ago), checked in since but not yet today,
    # and filled in the three days before enrolment: five days reported of
    # five in treatment. Counted from enrolment alone, the caseload read 2 of 2.
    clinician = make.clinician()
    patient = enrol(make, clock, clinician, days_ago=2)
    create_checkins(patient, daily(5, 1))
    db.session.execute(update(Checkin).where(Checkin.day < ago(2)).values(late=True))
    db.session.commit()

    row = caseload(client, make.headers(clinician))["items"][0]
    trends = dashboard(client, make.headers(clinician), patient).json["trends"]

    assert row["adherence_7"] == {"percent": 100.0, "days_reported": 5, "days_in_window": 5}
    assert row["adherence_7"] == {key: trends["adherence_7"][key] for key in row["adherence_7"]}


def test_low_adherence_is_judged_on_the_days_the_caseload_shows(client, make, clock):
    # Enrolled three days ago, four days filled in from the week before up to
    # enrolment, none since: 4 of 6 days (66.7 %), no low-adherence reason.
    # From enrolment alone it was 1 of 3 (33 %), and the reason contradicted the trends.
    clinician = make.clinician()
    patient = enrol(make, clock, clinician, days_ago=3)
    create_checkins(patient, daily(6, 3))

    row = caseload(client, make.headers(clinician))["items"][0]
    risk = dashboard(client, make.headers(clinician), patient).json["risk"]

    assert row["adherence_7"] == {"percent": 66.7, "days_reported": 4, "days_in_window": 6}
    assert "low_adherence" not in [reason["code"] for reason in row["risk"]["reasons"]]
    assert risk == row["risk"]


def test_the_caseload_shows_the_latest_score_of_each_questionnaire_with_its_band(client, make, three_patients):
    clinician, hannah, _mel, lou = three_patients

    rows = {r["patient"]["id"]: r for r in caseload(client, make.headers(clinician))["items"]}

    phq, gad = rows[hannah.id]["latest_scores"]["phq9"], rows[hannah.id]["latest_scores"]["gad7"]
    assert (phq["total"], phq["band"]["code"], phq["local_day"], phq["item9"]) == (12, "moderate", "2026-11-20", 0)
    assert (phq["from_previous"], phq["reliable_change"]) == (-4, "no reliable change")  # 16 -> 12, under 5 points
    assert (gad["total"], gad["band"]["code"], gad["from_previous"], gad["reliable_change"]) == (6, "mild", None, None)
    assert rows[hannah.id]["latest_scores"]["bam"] is None
    assert rows[lou.id]["latest_scores"] == {"phq9": None, "gad7": None, "bam": None}


def test_each_patient_gets_a_risk_level_and_the_reasons_for_it(client, make, three_patients):
    clinician, hannah, mel, lou = three_patients

    rows = {r["patient"]["id"]: r for r in caseload(client, make.headers(clinician))["items"]}

    assert rows[hannah.id]["risk"] == {"level": "high", "reasons": [
        {"code": "recent_use", "level": "high", "text": "Use reported on 1 of the last 7 days"}]}
    assert rows[mel.id]["risk"] == {"level": "medium", "reasons": [
        {"code": "quiet", "level": "medium", "text": "No check-in for 4 days (last 2026-11-19)"}]}
    assert (rows[mel.id]["last_checkin"], rows[mel.id]["days_since_last_checkin"]) == ("2026-11-19", 4)
    assert rows[mel.id]["current_streak"] == 0
    assert rows[lou.id]["risk"] == {"level": "low", "reasons": []}
    assert rows[lou.id]["current_streak"] == 14
    assert names(caseload(client, make.headers(clinician))) == ["Hannah", "Mel", "Lou"]


# --- the caseload: order, filters, pages ----------------------------------------------

# name: (check-ins, expected level, number of reasons, days since the last check-in)
WARD = {
    "Gus": (daily(6, 1) | {ago(1): {"used_substance": True, "self_harm_thoughts": True}}, "high", 2),
    "Fay": (daily(6, 0) | {ago(1): {"used_substance": True}}, "high", 1),
    "Jo": ({}, "medium", 2),  # never checked in: quiet since enrolment, 0 % adherence
    "Eve": (daily(10, 3), "medium", 2),  # quiet for 3 days, and a PHQ-9 of 16
    "Cy": (daily(12, 4), "medium", 1),  # quiet for 4 days
    "Dot": (daily(10, 3), "medium", 1),  # quiet for 3 days
    "Bea": (daily(10, 1), "low", 0),
    "Ada": (daily(5, 0), "low", 0),
    "Hal": (daily(6, 0), "low", 0),
    "Ian": (daily(20, 0), "low", 0),
}
RISK_ORDER = ["Gus", "Fay", "Jo", "Eve", "Cy", "Dot", "Bea", "Ada", "Hal", "Ian"]


@pytest.fixture
def ward(make, clock):
    """Ten patients of one clinician, enrolled 30 days ago; Cy and Ian in PHP; Ada, Bea and Gus in a program."""
    clinician = make.clinician()
    program = create_program(clinician.organization, "Evening IOP")
    patients = {}
    for name, (checkins, _level, _reasons) in WARD.items():
        level = LevelOfCare.php if name in ("Cy", "Ian") else LevelOfCare.iop
        patients[name] = enrol(make, clock, clinician, name=name, level_of_care=level)
        create_checkins(patients[name], checkins)
        if name in ("Ada", "Bea", "Gus"):
            place_in_program(patients[name], program)
    score(patients["Eve"], "phq9", 16, ago(5))
    return {"clinician": clinician, "program": program, "patients": patients}


def test_the_caseload_ranks_risk_first_then_reasons_then_silence_then_name(client, make, ward):
    page = caseload(client, make.headers(ward["clinician"]))

    assert [(r["patient"]["display_name"], r["risk"]["level"], len(r["risk"]["reasons"]))
            for r in page["items"]] == [(name, WARD[name][1], WARD[name][2]) for name in RISK_ORDER]
    assert page["total"] == 10


def test_a_patient_who_never_checked_in_counts_as_the_longest_silence(client, make, ward):
    page = caseload(client, make.headers(ward["clinician"]), risk="medium")
    rows = {r["patient"]["display_name"]: r for r in page["items"]}

    assert (rows["Jo"]["last_checkin"], rows["Jo"]["days_since_last_checkin"]) == (None, None)
    assert [reason["code"] for reason in rows["Jo"]["risk"]["reasons"]] == ["quiet", "low_adherence"]
    assert [reason["code"] for reason in rows["Eve"]["risk"]["reasons"]] == ["quiet", "phq9_high"]
    # both medium with two reasons: Eve last checked in 3 days ago, Jo never, so Jo comes first
    assert names(page) == ["Jo", "Eve", "Cy", "Dot"]


@pytest.mark.parametrize("sort, expected", [
    ("name", ["Ada", "Bea", "Cy", "Dot", "Eve", "Fay", "Gus", "Hal", "Ian", "Jo"]),
    # never checked in first, then the oldest last check-in; ties by name
    ("last_checkin", ["Jo", "Cy", "Dot", "Eve", "Bea", "Gus", "Ada", "Fay", "Hal", "Ian"]),
    # longest current streak first; ties by name
    ("streak", ["Ian", "Bea", "Hal", "Ada", "Fay", "Cy", "Dot", "Eve", "Gus", "Jo"]),
    ("risk", RISK_ORDER),
])
def test_the_caseload_sorts_by_name_last_checkin_or_streak(client, make, ward, sort, expected):
    page = caseload(client, make.headers(ward["clinician"]), sort=sort)

    assert names(page) == expected


def test_streaks_in_the_caseload_are_the_abstinent_days_running(client, make, ward):
    rows = caseload(client, make.headers(ward["clinician"]), sort="streak")["items"]

    # Ian 21 days to today; Bea 10 to yesterday (today not in yet); Fay used yesterday, abstinent today.
    assert [(r["patient"]["display_name"], r["current_streak"]) for r in rows][:5] == [
        ("Ian", 21), ("Bea", 10), ("Hal", 7), ("Ada", 6), ("Fay", 1)]
    assert {r["current_streak"] for r in rows[5:]} == {0}


@pytest.mark.parametrize("query, expected", [
    ({"risk": "high"}, ["Gus", "Fay"]),
    ({"risk": "medium"}, ["Jo", "Eve", "Cy", "Dot"]),
    ({"risk": "low"}, ["Bea", "Ada", "Hal", "Ian"]),
    ({"level_of_care": "php"}, ["Cy", "Ian"]),
    ({"level_of_care": "outpatient"}, []),
    ({"program": True}, ["Gus", "Bea", "Ada"]),
    ({"program": True, "risk": "low"}, ["Bea", "Ada"]),
    ({"level_of_care": "iop", "risk": "medium", "sort": "name"}, ["Dot", "Eve", "Jo"]),
])
def test_the_caseload_filters_by_level_of_care_program_and_risk(client, make, ward, query, expected):
    if query.pop("program", False):
        query["program_id"] = ward["program"].id

    page = caseload(client, make.headers(ward["clinician"]), **query)

    assert names(page) == expected
    assert page["total"] == len(expected)


def test_a_caseload_row_names_the_patients_program(client, make, ward):
    rows = {r["patient"]["display_name"]: r for r in caseload(client, make.headers(ward["clinician"]))["items"]}

    assert rows["Ada"]["program"] == {"id": ward["program"].id, "name": "Evening IOP"}
    assert rows["Cy"]["program"] is None
    assert (rows["Cy"]["level_of_care"], rows["Ada"]["level_of_care"]) == ("php", "iop")


@pytest.mark.parametrize("page, page_size, expected", [
    (1, 3, ["Gus", "Fay", "Jo"]),
    (2, 3, ["Eve", "Cy", "Dot"]),
    (4, 3, ["Ian"]),
    (5, 3, []),
    (1, 10, RISK_ORDER),
])
def test_the_caseload_is_paginated_after_ranking(client, make, ward, page, page_size, expected):
    body = caseload(client, make.headers(ward["clinician"]), page=page, page_size=page_size)

    assert names(body) == expected
    assert (body["page"], body["page_size"], body["total"]) == (page, page_size, 10)


def test_a_filtered_page_counts_only_the_matching_patients(client, make, ward):
    body = caseload(client, make.headers(ward["clinician"]), risk="medium", page=2, page_size=3)

    assert (names(body), body["total"]) == (["Dot"], 4)


@pytest.mark.parametrize("query, field", [
    ({"sort": "bogus"}, "sort"),
    ({"risk": "extreme"}, "risk"),
    ({"page": "0"}, "page"),
    ({"page": "-1"}, "page"),
    ({"page_size": "500"}, "page_size"),
    ({"page_size": "0"}, "page_size"),
    ({"program_id": "abc"}, "program_id"),
    ({"program_id": "1.5"}, "program_id"),
    ({"level_of_care": "inpatient"}, "level_of_care"),
])
def test_a_bad_caseload_query_is_refused_field_by_field(client, make, query, field):
    response = client.get("/api/v1/caseload", headers=make.headers(make.clinician()), query_string=query)

    body = problem(response, 422)
    assert list(body["errors"]) == [field]


def test_every_bad_caseload_parameter_is_reported_at_once(client, make):
    response = client.get("/api/v1/caseload", headers=make.headers(make.clinician()), query_string={
        "sort": "bogus", "risk": "extreme", "page": "0", "page_size": "500", "program_id": "abc"})

    assert set(problem(response, 422)["errors"]) == {"sort", "risk", "page", "page_size", "program_id"}


# --- the caseload: statements per request ----------------------------------------------

def add_patients(make, clinician_id: int, program_id: int, first: int, last: int) -> None:
    """Patients first..last-1 of a varied caseload: programs, check-ins, scores, sessions, or none of these."""
    clinician, program = db.session.get(User, clinician_id), db.session.get(Program, program_id)
    for n in range(first, last):
        patient = make.patient(clinician, name=f"Patient {n:03}",
                               level_of_care=LevelOfCare.php if n % 4 == 0 else LevelOfCare.iop)
        if n % 2 == 0:
            place_in_program(patient, program)
        if n % 5 != 4:
            create_checkins(patient, daily(9, 0) | {ago(2): {"used_substance": n % 3 == 0, "craving": 8}})
        if n % 3 == 0:
            score(patient, "phq9", 5 + n % 15, ago(8))
            score(patient, "phq9", 4 + n % 17, ago(1))
            score(patient, "gad7", n % 21, ago(1))
        if n % 2 == 1:
            create_session(patient, ago(3), clinician)
            create_session(patient, ago(6), clinician, status="missed")


def statements_for(client, url: str, headers: dict) -> tuple[int, dict]:
    db.session.close()  # nothing cached from the set-up: measure what a fresh request costs
    with count_queries() as statements:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_json()
    return statements(), response.json


def test_the_caseload_costs_the_same_statements_for_5_or_50_patients(app, client, make):
    app.config["CASELOAD_CHECK_KEPT_FIGURES"] = False  # count what production runs
    clinician = make.clinician()
    ids = clinician.id, create_program(clinician.organization).id
    headers = make.headers(clinician)
    add_patients(make, *ids, 0, 5)
    small, small_page = statements_for(client, "/api/v1/caseload", headers)  # every row computed
    small_kept, _ = statements_for(client, "/api/v1/caseload", headers)  # every row as kept
    add_patients(make, *ids, 5, 50)

    large, large_page = statements_for(client, "/api/v1/caseload", headers)  # 45 rows computed
    large_kept, large_kept_page = statements_for(client, "/api/v1/caseload", headers)

    assert (small_page["total"], len(small_page["items"])) == (5, 5)
    assert (large_page["total"], len(large_page["items"])) == (50, 50)
    assert large == small, f"{small} statements for 5 patients, {large} for 50"
    assert large_kept == small_kept < small, f"kept rows: {small_kept} for 5, {large_kept} for 50"
    assert large_kept_page == large_page


# --- the patient dashboard -----------------------------------------------------------

@pytest.fixture
def care_team(make, clock):
    """A clinician and a patient enrolled 60 days ago (2026-09-24), recovering since 2026-09-20."""
    clinician = make.clinician()
    patient = enrol(make, clock, clinician, days_ago=60, name="Rosa", recovery_start_date=date(2026, 9, 20))
    return clinician, patient


def dashboard(client, headers, patient, **query):
    return client.get(f"/api/v1/patients/{patient.id}/dashboard", headers=headers, query_string=query)


def test_the_series_has_one_entry_per_day_oldest_first_with_explicit_gaps(client, make, care_team):
    clinician, patient = care_team
    create_checkins(patient, {
        ago(6): {"craving": 4, "mood": 5, "sleep_hours": 6.25},
        ago(3): {"craving": 7, "mood": 3, "sleep_hours": 4.5, "used_substance": True},
        ago(0): {"craving": 1, "mood": 8, "sleep_hours": 8.0},
    })
    db.session.execute(update(Checkin).where(Checkin.day == ago(3)).values(late=True))
    db.session.commit()

    response = dashboard(client, make.headers(clinician), patient, days=7)

    assert response.status_code == 200, response.json
    gap = {"checked_in": False, "craving": None, "mood": None, "sleep_hours": None,
           "used_substance": None, "late": None}
    assert response.json["series"] == [
        {"date": "2026-11-17", "checked_in": True, "craving": 4, "mood": 5, "sleep_hours": 6.25,
         "used_substance": False, "late": False},
        {"date": "2026-11-18", **gap},
        {"date": "2026-11-19", **gap},
        {"date": "2026-11-20", "checked_in": True, "craving": 7, "mood": 3, "sleep_hours": 4.5,
         "used_substance": True, "late": True},
        {"date": "2026-11-21", **gap},
        {"date": "2026-11-22", **gap},
        {"date": "2026-11-23", "checked_in": True, "craving": 1, "mood": 8, "sleep_hours": 8.0,
         "used_substance": False, "late": False},
    ]
    assert (response.json["days"], response.json["today"]) == (7, "2026-11-23")


@pytest.mark.parametrize("days", [None, 7, 30, 365])
def test_the_series_covers_exactly_the_days_asked_for(client, make, care_team, days):
    clinician, patient = care_team
    create_checkins(patient, daily(400, 0))  # more history than any window

    query = {} if days is None else {"days": days}
    series = dashboard(client, make.headers(clinician), patient, **query).json["series"]

    expected = days or 90
    assert len(series) == expected
    assert [entry["date"] for entry in series] == [(ago(expected - 1 - i)).isoformat() for i in range(expected)]
    assert all(entry["checked_in"] for entry in series)


@pytest.mark.parametrize("days", ["6", "366", "0", "abc"])
def test_a_series_shorter_than_a_week_or_longer_than_a_year_is_refused(client, make, care_team, days):
    clinician, patient = care_team

    body = problem(dashboard(client, make.headers(clinician), patient, days=days), 422)

    assert list(body["errors"]) == ["days"]


def recovery_history() -> dict:
    """Six weeks with skills, use, a gap and late entries."""
    history = {}
    for n in range(42, -1, -1):
        if n in (9, 10, 20):
            continue
        history[ago(n)] = {
            "craving": (n * 7) % 11, "mood": 10 - (n * 3) % 11, "sleep_hours": 4 + (n % 9) * 0.5,
            "used_substance": n in (15, 30), "coping_skills": ["urge_surfing"] if n % 3 else ["mindfulness"],
        }
    return history


def day_records(history: dict, late: frozenset = frozenset()) -> list[DayRecord]:
    records = []
    for day, fields in history.items():
        body = checkin_body(**fields)
        records.append(DayRecord(day=day, craving=body["craving"], mood=body["mood"],
                                 sleep_hours=body["sleep_hours"], used_substance=body["used_substance"],
                                 coping_skills=tuple(sorted(body["coping_skills"])), late=day in late))
    return records


def test_the_dashboard_trends_are_exactly_the_trends_service(client, make, care_team):
    clinician, patient = care_team
    history = recovery_history()
    create_checkins(patient, history)
    db.session.execute(update(Checkin).where(Checkin.day.in_([ago(5), ago(6)])).values(late=True))
    db.session.commit()

    body = dashboard(client, make.headers(clinician), patient).json

    # Counted from enrolment (2026-09-24), not from the recovery start four days before it.
    expected = patient_trends(day_records(history, frozenset({ago(5), ago(6)})), TODAY, date(2026, 9, 20), 28,
                              in_treatment_since=date(2026, 9, 24))
    assert body["trends"] == expected.to_dict()
    assert body["trends"]["abstinence"]["days_since_recovery_start"] == 64  # 2026-09-20 .. 2026-11-23


def test_the_dashboard_shows_eight_weeks_of_goals(client, make, care_team):
    clinician, patient = care_team
    create_goal(patient, THIS_WEEK, "Walk daily", done_at=at_noon(TODAY))
    create_goal(patient, THIS_WEEK, "Call my sponsor")
    create_goal(patient, date(2026, 11, 16), "Two meetings", done_at=at_noon(date(2026, 11, 18)))
    create_goal(patient, date(2026, 9, 21), "Too old to show", done_at=at_noon(date(2026, 9, 22)))

    goals = dashboard(client, make.headers(clinician), patient).json["goals"]

    mondays = [(THIS_WEEK - timedelta(weeks=7 - i)).isoformat() for i in range(8)]
    assert [week["week_start"] for week in goals] == mondays
    assert goals[-2:] == [{"week_start": "2026-11-16", "done": 1, "total": 1, "rate": 100.0},
                          {"week_start": "2026-11-23", "done": 1, "total": 2, "rate": 50.0}]
    assert all((week["done"], week["total"], week["rate"]) == (0, 0, None) for week in goals[:-2])


def test_the_dashboard_shows_eight_weeks_of_attendance_against_the_plan(client, make, care_team):
    clinician, patient = care_team
    for day in (date(2026, 11, 16), date(2026, 11, 18), date(2026, 11, 20)):
        create_session(patient, day, clinician, hours=3.0)
    create_session(patient, date(2026, 11, 19), clinician, status="missed")
    create_session(patient, date(2026, 11, 17), clinician, status="excused", hours=0)
    create_session(patient, TODAY, clinician, hours=2.5)

    attendance = dashboard(client, make.headers(clinician), patient).json["attendance"]

    assert [week["week_start"] for week in attendance] == [
        (THIS_WEEK - timedelta(weeks=7 - i)).isoformat() for i in range(8)]
    assert attendance[-2:] == [
        {"week_start": "2026-11-16", "level_of_care": "iop", "attended": 3, "missed": 1, "excused": 1,
         "hours_attended": 9.0, "planned_hours": [9.0, 20.0], "plan_status": "within", "in_progress": False},
        {"week_start": "2026-11-23", "level_of_care": "iop", "attended": 1, "missed": 0, "excused": 0,
         "hours_attended": 2.5, "planned_hours": [9.0, 20.0], "plan_status": None, "in_progress": True},
    ]
    assert attendance[-3]["plan_status"] == "below"  # a whole week in treatment with nothing attended


def test_the_dashboard_lists_every_score_oldest_first_with_its_change(client, make, care_team):
    clinician, patient = care_team
    score(patient, "phq9", 17, date(2026, 11, 2))
    score(patient, "gad7", 9, date(2026, 11, 2))
    score(patient, "phq9", 11, date(2026, 11, 16))

    scores = dashboard(client, make.headers(clinician), patient).json["scores"]

    assert [(s["instrument"], s["local_day"], s["total"], s["band"]["code"]) for s in scores] == [
        ("phq9", "2026-11-02", 17, "moderately_severe"),
        ("gad7", "2026-11-02", 9, "mild"),
        ("phq9", "2026-11-16", 11, "moderate"),
    ]
    assert scores[0]["submitted_at"] == "2026-11-02T17:00:00+00:00"
    assert (scores[2]["change"]["from_previous"], scores[2]["change"]["reliable_change_previous"]) == (
        -6, "improved")


def test_the_dashboard_carries_the_same_risk_as_the_caseload(client, make, care_team):
    clinician, patient = care_team
    create_checkins(patient, daily(10, 0) | {ago(2): {"self_harm_thoughts": True}})
    headers = make.headers(clinician)

    body = dashboard(client, headers, patient).json

    assert body["risk"] == {"level": "high", "reasons": [
        {"code": "self_harm", "level": "high", "text": "Self-harm thoughts reported on 2026-11-21"}]}
    assert body["risk"] == caseload(client, headers)["items"][0]["risk"]
    assert body["alerts"] == []
    assert (body["patient"]["id"], body["patient"]["display_name"]) == (patient.id, "Rosa")


def test_an_admin_of_the_organization_opens_any_patients_dashboard(client, make, care_team):
    _clinician, patient = care_team
    admin = make.admin(patient.organization)

    assert dashboard(client, make.headers(admin), patient).status_code == 200


@pytest.mark.parametrize("who", ["clinician off the care team", "admin of another clinic", "another patient"])
def test_a_dashboard_out_of_reach_does_not_exist(client, make, care_team, who):
    clinician, patient = care_team
    create_checkins(patient, daily(3, 0))
    outsider = {
        "clinician off the care team": lambda: make.clinician(patient.organization),
        "admin of another clinic": lambda: make.admin(),
        "another patient": lambda: make.patient(clinician),
    }[who]()

    response = dashboard(client, make.headers(outsider), patient)

    body = problem(response, 404)
    assert set(body) <= {"type", "title", "status", "detail"}
    assert "Rosa" not in response.get_data(as_text=True)
    assert problem(client.get("/api/v1/patients/999999/dashboard", headers=make.headers(clinician)), 404)


def test_a_patient_does_not_open_the_care_team_dashboard_even_their_own(client, make, care_team):
    _clinician, patient = care_team

    body = problem(dashboard(client, make.headers(patient), patient), 403)

    assert "series" not in body


def test_the_dashboard_costs_the_same_statements_for_10_or_200_days_of_history(client, make, care_team):
    clinician, patient = care_team
    headers = make.headers(clinician)
    ids = clinician.id, patient.id
    create_checkins(patient, daily(9, 0))
    score(patient, "phq9", 12, ago(3))
    create_goal(patient, THIS_WEEK)
    create_session(patient, ago(2), clinician)
    short, short_body = statements_for(client, f"/api/v1/patients/{patient.id}/dashboard?days=365", headers)
    clinician, patient = db.session.get(User, ids[0]), db.session.get(User, ids[1])
    create_checkins(patient, daily(199, 10))
    for weeks in range(1, 8):
        score(patient, "phq9", 12 + weeks, ago(7 * weeks))
        create_goal(patient, THIS_WEEK - timedelta(weeks=weeks))
        create_session(patient, ago(7 * weeks + 2), clinician, status="missed")

    long, long_body = statements_for(client, f"/api/v1/patients/{patient.id}/dashboard?days=365", headers)

    assert sum(e["checked_in"] for e in short_body["series"]) == 10
    assert sum(e["checked_in"] for e in long_body["series"]) == 200
    assert long == short, f"{short} statements for 10 days, {long} for 200"


# --- the patient's own summary -------------------------------------------------------

@pytest.fixture
def recovering(make, clock):
    """A patient recovering since 2026-09-01, enrolled 60 days ago, with a clinician."""
    clinician = make.clinician()
    patient = enrol(make, clock, clinician, days_ago=60, recovery_start_date=date(2026, 9, 1))
    return clinician, patient


def summary(client, headers) -> dict:
    response = client.get("/api/v1/me/summary", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.json


def test_the_summary_shows_today_unchecked_until_the_patient_checks_in(client, make, recovering):
    _clinician, patient = recovering
    headers = make.headers(patient)
    create_checkins(patient, daily(15, 8) | daily(6, 1) | {ago(7): {"used_substance": True}})

    before = summary(client, headers)
    put = client.put(f"/api/v1/me/checkins/{TODAY}", headers=headers, json=checkin_body())
    after = summary(client, headers)

    assert put.status_code in (200, 201), put.get_json()
    assert (before["today"], before["checked_in_today"]) == ("2026-11-23", False)
    assert after["checked_in_today"] is True
    # 8 abstinent days (today-15 .. today-8), use on today-7, then 6 abstinent days to yesterday
    assert (before["current_streak"], before["longest_streak"]) == (6, 8)
    assert (after["current_streak"], after["longest_streak"]) == (7, 8)
    assert before["days_since_recovery_start"] == 83  # 2026-09-01 .. 2026-11-23


def test_the_summary_gives_the_30_day_pda_both_ways(client, make, recovering):
    _clinician, patient = recovering
    create_checkins(patient, daily(15, 8) | daily(6, 1) | {ago(7): {"used_substance": True}})

    pda = summary(client, make.headers(patient))["percent_days_abstinent_30"]

    # today-29 .. yesterday (today has no check-in yet): 29 days, 15 reported, 14 abstinent
    assert pda == {"days": 30, "missing_as_use": 48.3, "missing_excluded": 93.3, "days_abstinent": 14,
                   "days_reported": 15, "days_in_window": 29, "days_late": 0}


def test_the_summary_lists_the_questionnaires_due_today(client, make, recovering):
    clinician, patient = recovering
    headers = make.headers(patient)
    assert summary(client, headers)["assessments_due"] == []

    assignment = assessment_assignment(patient, clinician, "phq9", cadence_days=7, window_days=3, starts_on=TODAY)
    due = summary(client, headers)["assessments_due"]
    assessment_response(patient, "phq9", phq9(4), at_noon(TODAY), TODAY, assignment, TODAY)
    answered = summary(client, headers)["assessments_due"]

    assert due == [{"instrument": "phq9", "assignment_id": assignment.id, "occurrence_on": "2026-11-23",
                    "due_until": "2026-11-25"}]
    assert answered == []


def test_the_summary_counts_this_weeks_goals(client, make, recovering):
    _clinician, patient = recovering
    create_goal(patient, THIS_WEEK, "Walk daily", done_at=at_noon(TODAY))
    create_goal(patient, THIS_WEEK, "Call my sponsor")
    create_goal(patient, THIS_WEEK, "Cook dinner")
    create_goal(patient, date(2026, 11, 16), "Last week", done_at=at_noon(date(2026, 11, 17)))

    assert summary(client, make.headers(patient))["goals_this_week"] == {"done": 1, "total": 3}


@pytest.mark.parametrize("role", ["clinician", "admin"])
def test_staff_have_no_summary_of_their_own(client, make, recovering, role):
    _clinician, patient = recovering
    staff = getattr(make, role)(patient.organization)

    problem(client.get("/api/v1/me/summary", headers=make.headers(staff)), 403)


# --- the program report ---------------------------------------------------------------

ENROLLED = {"steady": 63, "stopped": 35, "new": 7}  # days ago: 9 weeks, 5 weeks, 1 week


@pytest.fixture
def program_scenario(make, clock):
    """Three patients of one program (and one outside it), with a clinician for each kind of access."""
    clinic = make.organization("Harbor Recovery")
    lead, newcomer_clinician = make.clinician(clinic), make.clinician(clinic)
    program = create_program(clinic, "Evening IOP")
    other_program = create_program(clinic, "Day program")
    patients = {}
    for kind, days_ago in ENROLLED.items():
        clinician = newcomer_clinician if kind == "new" else lead
        patients[kind] = enrol(make, clock, clinician, days_ago=days_ago, name=kind.title())
        place_in_program(patients[kind], program)
    start = {kind: ago(days) for kind, days in ENROLLED.items()}

    # steady: a check-in every day since enrolment; use on days 2, 5 and 9 and 5 days ago
    create_checkins(patients["steady"], {
        start["steady"] + timedelta(days=n): {"used_substance": n in (2, 5, 9) or n == 63 - 5} for n in range(64)})
    # stopped: days 0..13 only, use on day 3
    create_checkins(patients["stopped"], {
        start["stopped"] + timedelta(days=n): {"used_substance": n == 3} for n in range(14)})
    # new: every day since enrolment
    create_checkins(patients["new"], {start["new"] + timedelta(days=n): {} for n in range(8)})

    # sessions in the last 30 days (today-29 .. today), and one older
    for day, status in ((ago(40), "missed"), (ago(25), "attended"), (ago(18), "attended"), (ago(11), "attended"),
                        (ago(4), "attended"), (ago(2), "missed"), (ago(1), "excused")):
        create_session(patients["steady"], day, lead, status=status)
    for day in (ago(27), ago(20)):
        create_session(patients["stopped"], day, lead, status="missed")
    create_session(patients["new"], ago(3), newcomer_clinician)

    score(patients["steady"], "phq9", 18, start["steady"] + timedelta(days=1))
    score(patients["steady"], "phq9", 13, start["steady"] + timedelta(days=30))
    score(patients["steady"], "phq9", 9, ago(2))
    score(patients["steady"], "gad7", 12, start["steady"] + timedelta(days=1))
    score(patients["steady"], "gad7", 7, ago(2))
    score(patients["stopped"], "phq9", 14, start["stopped"] + timedelta(days=1))  # one response: no change
    score(patients["new"], "phq9", 10, ago(6))
    score(patients["new"], "phq9", 12, ago(1))

    outsider = enrol(make, clock, lead, days_ago=63, name="Outside")  # another program: counts nowhere here
    place_in_program(outsider, other_program)
    create_checkins(outsider, daily(63, 0, used_substance=True))
    create_session(outsider, ago(5), lead, status="missed")
    score(outsider, "phq9", 20, ago(40))
    score(outsider, "phq9", 22, ago(1))
    return {"clinic": clinic, "program": program, "other_program": other_program, "lead": lead,
            "newcomer": newcomer_clinician, "patients": patients}


def report(client, headers, program):
    return client.get(f"/api/v1/programs/{program.id}/report", headers=headers)


def unsuppressed_report(admin, program, clock) -> dict:
    """The report's arithmetic with small-cell suppression off (every group here is under 5)."""
    return program_report(admin, program.id, clock(), min_group=0)


def test_the_program_report_matches_a_hand_computation(make, clock, program_scenario):
    admin = make.admin(program_scenario["clinic"])

    body = unsuppressed_report(admin, program_scenario["program"], clock)

    assert body["program"].id == program_scenario["program"].id and body["suppressed"] == {}
    assert body["patients_enrolled"] == 3
    # checked in within today-13 .. today: steady and new; stopped last checked in 22 days ago
    assert body["active_patients"] == 2
    # 4 weeks: steady and stopped enrolled long enough, only steady checked in after day 28
    # 8 weeks: only steady enrolled long enough, and retained
    assert body["retention"] == {
        "4_weeks": {"eligible": 2, "retained": 1, "percent": 50.0},
        "8_weeks": {"eligible": 1, "retained": 1, "percent": 100.0},
    }
    # today-29 .. today: steady 4 attended, 1 missed (the excused left out, the one 40 days ago too old);
    # stopped 2 missed; new 1 attended -> 5 of 8
    assert body["attendance_30"] == {"attended": 5, "missed": 3, "rate": 62.5, "patients": 3}
    # PDA, missing days as use, for patients in treatment 30 days or more (steady and stopped):
    # first 30 days: steady 27/30, stopped 13/30 (13 abstinent check-ins, then nothing);
    # latest 30 (today counts once checked in): steady 29/30, stopped 8/29 (today-29 .. yesterday)
    assert body["pda"] == {
        "first_30_days": round(100 * (27 / 30 + 13 / 30) / 2, 1),
        "latest_30_days": round(100 * (29 / 30 + 8 / 29) / 2, 1),
        "patients": 2,
    }
    assert body["pda"]["first_30_days"] == 66.7 and body["pda"]["latest_30_days"] == 62.1
    # change from the first score: PHQ-9 steady 18 -> 9 (-9), new 10 -> 12 (+2), stopped has one score only
    assert body["score_change"] == {
        "phq9": {"mean_from_first": -3.5, "patients": 2},
        "gad7": {"mean_from_first": -5.0, "patients": 1},
    }


def test_pda_compares_only_patients_whose_first_30_days_are_over(client, make, clock):
    admin = make.admin()
    program = create_program(admin.organization)
    for days_ago, use_on in ((30, 29), (29, 28)):  # use on the 30th day of treatment
        patient = enrol(make, clock, make.clinician(admin.organization), days_ago=days_ago)
        place_in_program(patient, program)
        create_checkins(patient, {ago(days_ago - n): {"used_substance": n == use_on} for n in range(days_ago + 1)})

    pda = unsuppressed_report(admin, program, clock)["pda"]

    # Only the patient enrolled 30 days ago: 29 of the first 30 days abstinent; the latest 30 days
    # (today-29 .. today) hold the same use and today's abstinent check-in.
    assert pda == {"first_30_days": 96.7, "latest_30_days": 96.7, "patients": 1}


def test_a_program_without_patients_reports_zeros_and_no_figures(client, make, program_scenario):
    admin = make.admin(program_scenario["clinic"])
    empty = create_program(program_scenario["clinic"], "Weekend group")

    body = report(client, make.headers(admin), empty).json

    too_few = "Computed over fewer than 5 patients."
    assert body == {
        "program": {"id": empty.id, "name": "Weekend group"}, "patients_enrolled": 0, "active_patients": None,
        "retention": {"4_weeks": {"eligible": 0, "retained": None, "percent": None},
                      "8_weeks": {"eligible": 0, "retained": None, "percent": None}},
        "attendance_30": {"attended": None, "missed": None, "rate": None, "patients": 0},
        "pda": {"first_30_days": None, "latest_30_days": None, "patients": 0},
        "score_change": {"phq9": {"mean_from_first": None, "patients": 0},
                         "gad7": {"mean_from_first": None, "patients": 0}},
        "minimum_group": 5,
        "suppressed": dict.fromkeys(SUPPRESSIBLE, too_few),
    }


SUPPRESSIBLE = [
    "active_patients", "retention.4_weeks.retained", "retention.4_weeks.percent", "retention.8_weeks.retained",
    "retention.8_weeks.percent", "attendance_30.attended", "attendance_30.missed", "attendance_30.rate",
    "pda.first_30_days", "pda.latest_30_days", "score_change.phq9.mean_from_first",
    "score_change.gad7.mean_from_first",
]


# --- small-cell suppression --------------------------------------------------------------

def test_a_report_over_fewer_than_5_patients_shows_no_figure_about_them(client, make, program_scenario):
    """Three patients: a clinician who knows two of them must not read the third's numbers off the report."""
    admin = make.admin(program_scenario["clinic"])

    body = report(client, make.headers(admin), program_scenario["program"]).json

    assert body["patients_enrolled"] == 3
    assert set(body["suppressed"]) == set(SUPPRESSIBLE)
    assert body["active_patients"] is None
    assert body["attendance_30"] == {"attended": None, "missed": None, "rate": None, "patients": 3}
    assert body["pda"] == {"first_30_days": None, "latest_30_days": None, "patients": 2}
    assert body["score_change"]["phq9"] == {"mean_from_first": None, "patients": 2}
    assert body["retention"]["4_weeks"] == {"eligible": 2, "retained": None, "percent": None}


def program_of(make, clock, size: int, active: int):
    """A program of size patients enrolled 40 days ago, active of whom checked in every day."""
    admin = make.admin()
    program = create_program(admin.organization)
    clinician = make.clinician(admin.organization)
    for number in range(size):
        patient = enrol(make, clock, clinician, days_ago=40)
        place_in_program(patient, program)
        create_checkins(patient, daily(40, 0 if number < active else 20))
        score(patient, "phq9", 12, ago(35))
        score(patient, "phq9", 8 + number % 3, ago(2))
    return admin, program


def test_figures_over_5_patients_or_more_are_shown(client, make, clock):
    admin, program = program_of(make, clock, size=10, active=5)

    body = report(client, make.headers(admin), program).json

    assert body["active_patients"] == 5
    assert body["pda"]["patients"] == 10 and body["pda"]["first_30_days"] is not None
    assert body["score_change"]["phq9"]["patients"] == 10 and body["score_change"]["phq9"]["mean_from_first"] < 0
    assert body["retention"]["4_weeks"] == {"eligible": 10, "retained": 5, "percent": 50.0}
    assert "active_patients" not in body["suppressed"] and "pda.first_30_days" not in body["suppressed"]


@pytest.mark.parametrize("active", [1, 4, 6, 9, 0, 10])
def test_a_count_whose_rest_of_the_total_is_under_5_is_suppressed_too(client, make, clock, active):
    """Ten enrolled and 9 active tells of the one who is not: the total minus the count is a group too."""
    admin, program = program_of(make, clock, size=10, active=active)

    body = report(client, make.headers(admin), program).json

    assert body["patients_enrolled"] == 10
    assert body["active_patients"] is None
    assert body["suppressed"]["active_patients"].startswith("Would reveal a group of fewer than 5 patients")
    assert body["retention"]["4_weeks"]["retained"] is None and body["retention"]["4_weeks"]["percent"] is None
    # The figures over all ten still show.
    assert body["score_change"]["phq9"]["mean_from_first"] is not None


@pytest.mark.parametrize("who", ["lead", "newcomer"])
def test_a_clinician_with_a_patient_in_the_program_reads_its_report(client, make, program_scenario, who):
    response = report(client, make.headers(program_scenario[who]), program_scenario["program"])

    assert response.status_code == 200, response.json
    assert response.json["patients_enrolled"] == 3


def test_a_clinician_with_no_patient_in_the_program_gets_404(client, make, program_scenario):
    # newcomer's only patient is in Evening IOP, not the Day program
    response = report(client, make.headers(program_scenario["newcomer"]), program_scenario["other_program"])

    body = problem(response, 404)
    assert "patients_enrolled" not in body


def test_an_admin_of_another_clinic_gets_404(client, make, program_scenario):
    response = report(client, make.headers(make.admin()), program_scenario["program"])

    body = problem(response, 404)
    assert "patients_enrolled" not in body


def test_an_unknown_program_gets_404(client, make, program_scenario):
    admin = make.admin(program_scenario["clinic"])

    problem(client.get("/api/v1/programs/999999/report", headers=make.headers(admin)), 404)


def test_a_patient_may_not_read_a_program_report(client, make, program_scenario):
    patient = program_scenario["patients"]["steady"]

    problem(report(client, make.headers(patient), program_scenario["program"]), 403)


# --- alerts and the level-of-care flag -------------------------------------------------

def test_each_caseload_row_counts_the_patients_alerts_still_to_work(client, make, clock):
    from tests.factories import create_alert

    clinician = make.clinician()
    patient = enrol(make, clock, clinician)
    create_alert(patient, "self_harm", severity="urgent")
    create_alert(patient, "substance_use", status="acknowledged")
    create_alert(patient, "short_sleep", severity="medium", status="resolved")

    row = caseload(client, make.headers(clinician))["items"][0]

    assert (row["open_alerts"], row["urgent_alerts"]) == (2, 1)


def test_repeated_use_flags_consider_step_up_with_its_reason(client, make, clock):
    clinician = make.clinician()
    patient = enrol(make, clock, clinician)
    for n in (1, 3, 5):
        make.checkin(patient, ago(n), used_substance=True, substances=["alcohol"])
    steady = enrol(make, clock, clinician)
    make.checkin(steady, ago(1))

    rows = {row["patient"]["id"]: row for row in caseload(client, make.headers(clinician))["items"]}

    assert rows[patient.id]["step_up"]["consider_step_up"] is True
    assert [r["code"] for r in rows[patient.id]["step_up"]["reasons"]] == ["repeated_use"]
    assert rows[steady.id]["step_up"] == {"consider_step_up": False, "reasons": []}


def test_the_dashboard_lists_the_alerts_still_to_work_and_not_resolved_ones(client, make, clock):
    from tests.factories import create_alert

    clinician = make.clinician()
    patient = enrol(make, clock, clinician)
    create_alert(patient, "self_harm", severity="urgent")
    create_alert(patient, "short_sleep", severity="medium", status="resolved")

    body = client.get(f"/api/v1/patients/{patient.id}/dashboard", headers=make.headers(clinician)).json

    assert [(a["rule"], a["status"]) for a in body["alerts"]] == [("self_harm", "open")]


# --- the caseload reads two weeks, and answers as from the whole history --------------

def test_every_caseload_figure_is_the_one_computed_from_the_whole_history(client, make, clock):
    """The caseload loads only the days its figures read (services.history.recent_checkins).

    Against the whole history run through the trends and risk services, as
    the caseload computed it before: patients in four zones (so "today" and
    the window's edge differ by patient), streaks that began a year before
    the window, use or a gap on the day before it, self-harm, a check-in
    dated after today, and no check-in at all.
    """
    from services.days import local_today
    from services.history import checkin_histories
    from services.risk import assess_risk
    from services.trends import abstinence, adherence, rolling_mean, slope
    from tests.services.test_checkin_loaders import random_history, store, streak

    clinician = make.clinician()
    edge = TODAY - 13 * timedelta(days=1)
    shapes = [
        streak(ago(400), TODAY),
        streak(ago(400), ago(1)),  # not checked in yet today
        {**streak(ago(300), TODAY), edge - timedelta(days=1): {"used": True}},
        {**streak(ago(300), edge - timedelta(days=2)), **streak(edge, ago(1))},
        {**streak(ago(300), ago(40)), ago(2): {"harm": True, "craving": 9}, ago(1): {"craving": 9}},
        streak(ago(200), ago(20), used=True),
        {TODAY + timedelta(days=1): {}, ago(500): {}},
        {},
        *(random_history(seed, 400) for seed in range(8)),
    ]
    zones = ["America/New_York", "Asia/Kolkata", "Pacific/Auckland", "America/Los_Angeles"]
    ids = []
    for number, shape in enumerate(shapes):
        patient = enrol(make, clock, clinician, days_ago=600, timezone=zones[number % len(zones)])
        store(patient, shape)
        ids.append(patient.id)

    page = caseload(client, make.headers(clinician), page_size=100)
    full = checkin_histories(ids)

    assert page["total"] == len(shapes)
    streaks = sorted(row["current_streak"] for row in page["items"])
    assert streaks[-2:] == [400, 401]  # the window is 14 days; the streaks are the whole run
    for row in page["items"]:
        patient = db.session.get(User, row["patient"]["id"])
        profile = patient.patient_profile
        today = local_today(clock.now, profile.timezone)
        enrolled_on = local_today(profile.enrolled_at, profile.timezone)
        history = full.get(patient.id)
        records = history.records if history else []
        last = max((r.day for r in records if r.day <= today), default=None)
        assert row["today"] == today.isoformat()
        assert row["current_streak"] == abstinence(records, today).current_streak
        assert row["last_checkin"] == (last.isoformat() if last else None)
        assert row["days_since_last_checkin"] == ((today - last).days if last else None)
        for metric in ("craving", "mood", "sleep_hours"):
            mean, trend = rolling_mean(records, metric, today, 7), slope(records, metric, today)
            assert row["means_7"][metric] == {"value": mean.value, "n": mean.n, "direction": trend.direction,
                                              "slope": trend.value, "slope_n": trend.n}
        share = adherence(records, today, 7, recovery_start=enrolled_on)
        assert row["adherence_7"] == {"percent": share.percent, "days_reported": share.days_reported,
                                      "days_in_window": share.days_in_window}
        assert row["risk"] == assess_risk(
            records, today, self_harm_days=history.self_harm_days if history else [], latest_scores={},
            in_treatment_since=enrolled_on,
        ).to_dict()
