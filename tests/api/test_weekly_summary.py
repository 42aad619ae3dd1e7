"""GET /me/weekly-summary: the week the e-mail's link names, in the e-mail's own figures."""
import email
import email.policy
from datetime import date, timedelta

import pytest

from jobs.weekly import weekly_summaries
from models import db
from tests.factories import problem
from tests.jobs.support import ENROLLED_AT, set_preferences

W47 = date(2026, 11, 16)  # last week at the clock fixture's Monday noon in New York


@pytest.fixture
def patient(make):
    patient = make.patient()
    patient.patient_profile.enrolled_at = ENROLLED_AT
    for offset in range(14):  # two abstinent weeks, the second with a use day on Wednesday
        make.checkin(patient, W47 - timedelta(days=7) + timedelta(days=offset), craving=2 + offset % 3, mood=8,
                     used_substance=offset == 9)
    db.session.commit()
    return patient


def test_the_week_the_e_mail_names_shows_the_figures_the_e_mail_carried(client, make, patient, clock, tmp_path):
    set_preferences(patient, weekly_summary="detailed")
    weekly_summaries(clock.now)
    [eml] = (tmp_path / "outbox").glob("*.eml")
    sent = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    text = sent.get_body(("plain",)).get_content()

    week = client.get("/api/v1/me/weekly-summary?week=2026-W47", headers=make.headers(patient))

    assert week.status_code == 200, week.json
    figures = week.json
    assert (figures["period"], figures["week_start"], figures["week_end"]) == ("2026-W47", "2026-11-16", "2026-11-22")
    assert "/summary?week=2026-W47" in text
    assert f"{figures['checkins']} of 7 days this week" in text
    assert f"Current streak: {figures['current_streak']} days" in text
    assert (figures["checkins"], figures["days_used"], figures["current_streak"]) == (7, 1, 4)
    assert [day["used_substance"] for day in figures["days"]] == [False, False, True, False, False, False, False]
    craving = next(m for m in figures["metrics"] if m["metric"] == "craving")
    assert craving["label"] and craving["n_this"] == 7 and craving["n_last"] == 7


def test_without_a_week_it_is_last_week_in_the_patients_own_zone(client, make, patient):
    answer = client.get("/api/v1/me/weekly-summary", headers=make.headers(patient))

    assert answer.status_code == 200 and answer.json["period"] == "2026-W47"


def test_a_week_before_any_check_in_is_an_empty_week_not_an_error(client, make, patient):
    answer = client.get("/api/v1/me/weekly-summary?week=2026-W30", headers=make.headers(patient))

    assert answer.status_code == 200
    assert answer.json["checkins"] == 0 and not any(day["checked_in"] for day in answer.json["days"])


@pytest.mark.parametrize(("week", "complaint"), [
    ("2026-47", "ISO week"), ("2026-W47\n", "ISO week"), ("2026-W54", "ISO week"), ("2026-W00", "ISO week"),
    ("2026-W49", "has not begun"), ("2099-W01", "has not begun"),
])
def test_a_week_that_is_not_one_or_has_not_begun_is_refused_by_field(client, make, patient, week, complaint):
    refused = problem(client.get("/api/v1/me/weekly-summary", query_string={"week": week},
                                 headers=make.headers(patient)), 422)

    assert complaint in str(refused), refused


def test_this_week_so_far_is_allowed(client, make, patient):
    assert client.get("/api/v1/me/weekly-summary?week=2026-W48", headers=make.headers(patient)).status_code == 200


def test_only_the_patient_reads_their_week(client, make, patient):
    problem(client.get("/api/v1/me/weekly-summary"), 401)
    problem(client.get("/api/v1/me/weekly-summary", headers=make.headers(make.clinician())), 403)
