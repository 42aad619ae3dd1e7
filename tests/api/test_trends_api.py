"""GET /me/trends and /patients/{id}/trends: exactly services.trends over the stored check-ins, within reach.

The statistics themselves are tested against independent computations in
tests/services/test_trends.py; here the API must hand over the same figures
for the right patient, day and window, and nothing to anyone out of reach.
"""
from datetime import date, timedelta

import pytest
from sqlalchemy import update

from models import Checkin, db
from services.trends import DayRecord, patient_trends
from tests.factories import checkin_body, create_checkins, problem

TODAY = date(2026, 11, 23)  # the frozen clock's day in New York
RECOVERY_START = date(2026, 10, 1)
LATE_DAYS = (date(2026, 11, 14), date(2026, 11, 15))


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def history(today: date = TODAY) -> dict:
    """Seven weeks ending today: gaps, two days of use, two skills, some short nights."""
    days = {}
    for n in range(48, -1, -1):
        if n in (4, 11, 12, 30):
            continue
        days[today - timedelta(days=n)] = {
            "craving": (n * 5) % 11, "mood": 10 - (n * 4) % 11, "sleep_hours": 3.5 + (n % 10) * 0.5,
            "used_substance": n in (17, 33),
            "coping_skills": ["exercise", "urge_surfing"] if n % 3 == 0 else ["journaling"],
        }
    return days


def expected_trends(days: dict, today: date, window: int, late=LATE_DAYS, recovery_start=RECOVERY_START,
                    enrolled_on: date = date(2026, 10, 1)) -> dict:
    records = []
    for day, fields in days.items():
        body = checkin_body(**fields)
        records.append(DayRecord(day, body["craving"], body["mood"], body["sleep_hours"], body["used_substance"],
                                 tuple(sorted(body["coping_skills"])), day in late))
    return patient_trends(records, today, recovery_start, window, in_treatment_since=enrolled_on).to_dict()


@pytest.fixture
def patient(make, clinician, clock):
    with clock.moved_to("2026-10-01T15:00:00+00:00"):
        patient = make.patient(clinician, name="Rosa", recovery_start_date=RECOVERY_START)
    create_checkins(patient, history())
    db.session.execute(update(Checkin).where(Checkin.day.in_(LATE_DAYS)).values(late=True))
    db.session.commit()
    return patient


def get(client, url, headers, **query):
    return client.get(url, headers=headers, query_string=query)


# --- the patient's own trends --------------------------------------------------------

@pytest.mark.parametrize("window", [None, 7, 28, 90])
def test_a_patient_reads_their_trends_as_the_trends_service_computes_them(client, make, patient, window):
    query = {} if window is None else {"window": window}

    response = get(client, "/api/v1/me/trends", make.headers(patient), **query)

    assert response.status_code == 200, response.json
    assert response.json == expected_trends(history(), TODAY, window or 28)
    assert response.json["window_days"] == (window or 28)


def test_the_trends_carry_what_a_reader_needs_to_judge_them(client, make, patient):
    body = get(client, "/api/v1/me/trends", make.headers(patient)).json

    assert (body["today"], body["recovery_start"], body["last_checkin"]) == ("2026-11-23", "2026-10-01", "2026-11-23")
    craving = body["metrics"]["craving"]
    # today-6 .. today without today-4: six check-ins behind the 7-day mean
    assert (craving["mean_7"]["n"], craving["mean_7"]["days"]) == (6, 7)
    assert craving["mean_28"]["n_late"] == 2
    assert {effect["skill"] for effect in body["what_helps"]} == {"exercise", "urge_surfing", "journaling"}


@pytest.mark.parametrize("window", ["6", "91", "0", "-7", "abc", "28.0"])
def test_a_window_outside_7_to_90_days_is_refused(client, make, patient, window):
    response = get(client, "/api/v1/me/trends", make.headers(patient), window=window)

    assert list(problem(response, 422)["errors"]) == ["window"]


def test_a_patients_today_is_their_own_time_zones_day(client, make, clock, clinician):
    # 17:00 UTC on 2026-11-23 is already 02:00 on 2026-11-24 in Tokyo.
    tokyo = make.patient(clinician, timezone="Asia/Tokyo")
    tomorrow = TODAY + timedelta(days=1)
    create_checkins(tokyo, history(tomorrow))

    body = get(client, "/api/v1/me/trends", make.headers(tokyo)).json

    assert (body["today"], body["last_checkin"]) == ("2026-11-24", "2026-11-24")
    # Enrolled today, Tokyo's today: the seven weeks before are all filled in late.
    assert body == expected_trends(history(tomorrow), tomorrow, 28, late=(), recovery_start=None, enrolled_on=tomorrow)


def test_a_patient_without_check_ins_gets_empty_figures_not_an_error(client, make, clinician):
    newcomer = make.patient(clinician)

    response = get(client, "/api/v1/me/trends", make.headers(newcomer))

    assert response.status_code == 200, response.json
    assert response.json == patient_trends([], TODAY, None, 28).to_dict()
    assert response.json["metrics"]["mood"]["mean_7"] == {
        "metric": "mood", "days": 7, "value": None, "n": 0, "n_late": 0}


@pytest.mark.parametrize("role", ["clinician", "admin"])
def test_staff_have_no_trends_of_their_own(client, make, patient, role):
    staff = getattr(make, role)(patient.organization)

    problem(get(client, "/api/v1/me/trends", make.headers(staff)), 403)


def test_trends_need_a_login(client, patient):
    problem(client.get("/api/v1/me/trends"), 401)
    problem(client.get(f"/api/v1/patients/{patient.id}/trends"), 401)


# --- a patient's trends for the care team -----------------------------------------------

def url(patient) -> str:
    return f"/api/v1/patients/{patient.id}/trends"


@pytest.mark.parametrize("window", [None, 7, 90])
def test_the_care_team_reads_a_patients_trends(client, make, clinician, patient, window):
    query = {} if window is None else {"window": window}

    response = get(client, url(patient), make.headers(clinician), **query)

    assert response.status_code == 200, response.json
    assert response.json == expected_trends(history(), TODAY, window or 28)


def test_an_admin_of_the_organization_reads_any_patients_trends(client, make, patient):
    admin = make.admin(patient.organization)

    response = get(client, url(patient), make.headers(admin), window=14)

    assert response.status_code == 200, response.json
    assert response.json == expected_trends(history(), TODAY, 14)


def test_a_patient_reading_their_own_trends_by_id_sees_the_same_as_on_me(client, make, patient):
    headers = make.headers(patient)

    assert get(client, url(patient), headers).json == get(client, "/api/v1/me/trends", headers).json


@pytest.mark.parametrize("window", ["6", "91"])
def test_the_care_teams_window_is_bounded_too(client, make, clinician, patient, window):
    response = get(client, url(patient), make.headers(clinician), window=window)

    assert list(problem(response, 422)["errors"]) == ["window"]


@pytest.mark.parametrize("who", ["clinician off the care team", "admin of another clinic", "another patient"])
def test_trends_out_of_reach_do_not_exist(client, make, clinician, patient, who):
    outsider = {
        "clinician off the care team": lambda: make.clinician(patient.organization),
        "admin of another clinic": lambda: make.admin(),
        "another patient": lambda: make.patient(clinician),
    }[who]()

    response = get(client, url(patient), make.headers(outsider))

    body = problem(response, 404)
    assert "metrics" not in body
    assert "Rosa" not in response.get_data(as_text=True)


def test_trends_of_an_unknown_patient_do_not_exist(client, make, clinician):
    problem(get(client, "/api/v1/patients/999999/trends", make.headers(clinician)), 404)


# --- days before enrolment -------------------------------------------------------------

@pytest.fixture
def newcomer(make, clinician, clock):
    """Sober since last year, enrolled five days ago: no app to check in with before that."""
    with clock.moved_to("2026-11-18T15:00:00+00:00"):
        return make.patient(clinician, recovery_start_date=date(2025, 9, 1))


def test_days_before_enrolment_are_not_counted_as_missing(client, make, clinician, newcomer):
    create_checkins(newcomer, {ago(n): {"used_substance": False} for n in range(6)})  # the 18th to today

    body = get(client, f"/api/v1/patients/{newcomer.id}/trends", make.headers(clinician)).json

    pda_30 = body["abstinence"]["pda"]["30"]
    assert (pda_30["days_in_window"], pda_30["missing_as_use"]) == (6, 100.0)
    assert (body["adherence"]["days_in_window"], body["adherence"]["percent"]) == (6, 100.0)
    assert body["abstinence"]["days_since_recovery_start"] == (TODAY - date(2025, 9, 1)).days
    assert body["metrics"]["craving"]["missing_days"] == 0


def test_a_day_before_enrolment_counts_only_when_filled_in(client, make, clinician, newcomer):
    create_checkins(newcomer, {ago(n): {"used_substance": n == 9} for n in (9, *range(6))})

    body = get(client, f"/api/v1/patients/{newcomer.id}/trends", make.headers(clinician)).json

    pda_30 = body["abstinence"]["pda"]["30"]
    # The 18th (enrolment) to today, 6 days, and the 14th filled in late; the
    # 15th to the 17th, unreported before the patient had the app, are not presumed use.
    assert (pda_30["days_in_window"], pda_30["days_reported"], pda_30["days_abstinent"]) == (7, 7, 6)
    assert pda_30["missing_as_use"] == 85.7
    assert (body["adherence"]["days_in_window"], body["adherence"]["days_reported"]) == (7, 7)
    assert body["metrics"]["craving"]["missing_days"] == 0


def test_the_patients_own_summary_counts_from_enrolment_too(client, make, newcomer):
    create_checkins(newcomer, {ago(n): {"used_substance": False} for n in range(6)})

    summary = get(client, "/api/v1/me/summary", make.headers(newcomer)).json

    assert summary["percent_days_abstinent_30"]["missing_as_use"] == 100.0
