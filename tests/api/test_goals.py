"""Weekly goals: a few small ones for this week, ticked off, read back by the care team."""
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from models import WeeklyGoal, db
from tests.factories import create_goal, problem

# The frozen clock: Monday 2026-11-23, noon in New York.
THIS_WEEK = date(2026, 11, 23)
LAST_WEEK = date(2026, 11, 16)


def goals_stored() -> list[tuple[date, str, bool]]:
    return [(g.week_start, g.text, g.done_at is not None) for g in db.session.scalars(
        select(WeeklyGoal).order_by(WeeklyGoal.id).execution_options(populate_existing=True))]


# --- the week's goals ----------------------------------------------------------

def test_a_patient_without_goals_sees_an_empty_current_week(client, auth):
    response = client.get("/api/v1/me/goals", headers=auth)

    assert response.status_code == 200, response.json
    assert response.json == {
        "week_start": "2026-11-23", "week_end": "2026-11-29", "current": True,
        "open_until": "2026-12-01", "done": 0, "total": 0, "rate": None, "goals": [],
    }


def test_a_goal_is_added_to_the_current_week_and_counted(client, auth, clock):
    added = client.post("/api/v1/me/goals", headers=auth, json={"text": "  Call my sponsor twice "})

    assert added.status_code == 201, added.json
    assert added.json["text"] == "Call my sponsor twice"
    assert added.json["week_start"] == "2026-11-23"
    assert added.json["done"] is False and added.json["done_at"] is None
    week = client.get("/api/v1/me/goals", headers=auth).json
    assert (week["done"], week["total"], week["rate"]) == (0, 1, 0.0)
    assert [g["id"] for g in week["goals"]] == [added.json["id"]]
    assert goals_stored() == [(THIS_WEEK, "Call my sponsor twice", False)]


def test_marking_goals_done_gives_the_weeks_completion_rate(client, auth, clock):
    ids = [client.post("/api/v1/me/goals", headers=auth, json={"text": text}).json["id"]
           for text in ("Walk daily", "Two meetings", "Cook dinner")]

    for goal_id in ids[:2]:
        marked = client.patch(f"/api/v1/me/goals/{goal_id}", headers=auth, json={"done": True})
        assert marked.status_code == 200, marked.json
        assert marked.json["done"] is True
        assert marked.json["done_at"] == "2026-11-23T17:00:00+00:00"

    week = client.get("/api/v1/me/goals", headers=auth).json
    assert (week["done"], week["total"], week["rate"]) == (2, 3, 66.7)
    assert [g["done"] for g in week["goals"]] == [True, True, False]


def test_marking_a_goal_done_again_keeps_when_it_was_first_done(client, auth, clock):
    goal_id = client.post("/api/v1/me/goals", headers=auth, json={"text": "Walk daily"}).json["id"]
    client.patch(f"/api/v1/me/goals/{goal_id}", headers=auth, json={"done": True})
    clock.advance(hours=5)

    again = client.patch(f"/api/v1/me/goals/{goal_id}", headers=auth, json={"done": True})

    assert again.json["done_at"] == "2026-11-23T17:00:00+00:00"


def test_unmarking_a_goal_clears_it(client, auth):
    goal_id = client.post("/api/v1/me/goals", headers=auth, json={"text": "Walk daily"}).json["id"]
    client.patch(f"/api/v1/me/goals/{goal_id}", headers=auth, json={"done": True})

    undone = client.patch(f"/api/v1/me/goals/{goal_id}", headers=auth, json={"done": False})

    assert undone.status_code == 200
    assert undone.json["done"] is False and undone.json["done_at"] is None
    assert goals_stored() == [(THIS_WEEK, "Walk daily", False)]


def test_a_goal_of_the_current_week_can_be_reworded(client, auth):
    goal_id = client.post("/api/v1/me/goals", headers=auth, json={"text": "Walk"}).json["id"]

    reworded = client.patch(f"/api/v1/me/goals/{goal_id}", headers=auth,
                            json={"text": " Walk 20 minutes ", "done": True})

    assert reworded.status_code == 200, reworded.json
    assert reworded.json["text"] == "Walk 20 minutes"
    assert goals_stored() == [(THIS_WEEK, "Walk 20 minutes", True)]


def test_a_retried_post_returns_the_goal_already_there_without_a_copy(client, auth):
    first = client.post("/api/v1/me/goals", headers=auth, json={"text": "Call my sponsor"})

    retry = client.post("/api/v1/me/goals", headers=auth, json={"text": " call my SPONSOR"})

    assert retry.status_code == 200, retry.json
    assert retry.json == first.json
    assert len(goals_stored()) == 1


def test_a_sixth_goal_in_a_week_is_refused_with_a_clear_message(client, auth):
    for n in range(5):
        assert client.post("/api/v1/me/goals", headers=auth, json={"text": f"Goal {n}"}).status_code == 201

    sixth = client.post("/api/v1/me/goals", headers=auth, json={"text": "Goal 6"})

    body = problem(sixth, 409)
    assert "a few small goals" in body["detail"]
    assert len(goals_stored()) == 5


def test_the_five_goal_cap_is_per_week(client, auth, patient):
    for n in range(5):
        create_goal(patient, LAST_WEEK, f"Old goal {n}")

    added = client.post("/api/v1/me/goals", headers=auth, json={"text": "A new week"})

    assert added.status_code == 201


def test_a_retry_of_one_of_five_goals_is_still_answered_with_that_goal(client, auth):
    for n in range(5):
        client.post("/api/v1/me/goals", headers=auth, json={"text": f"Goal {n}"})

    retry = client.post("/api/v1/me/goals", headers=auth, json={"text": "Goal 4"})

    assert retry.status_code == 200
    assert len(goals_stored()) == 5


def test_deleting_a_goal_of_the_current_week_frees_its_place(client, auth):
    ids = [client.post("/api/v1/me/goals", headers=auth, json={"text": f"Goal {n}"}).json["id"]
           for n in range(5)]

    deleted = client.delete(f"/api/v1/me/goals/{ids[0]}", headers=auth)

    assert deleted.status_code == 204
    assert deleted.get_data() == b""
    assert [text for _, text, _ in goals_stored()] == ["Goal 1", "Goal 2", "Goal 3", "Goal 4"]
    assert client.post("/api/v1/me/goals", headers=auth, json={"text": "Goal 5"}).status_code == 201


@pytest.mark.parametrize("any_day", ["2026-11-16", "2026-11-19", "2026-11-22"])
def test_any_day_of_a_past_week_reads_that_week(client, auth, patient, any_day):
    create_goal(patient, LAST_WEEK, "Last week's", done_at=datetime(2026, 11, 20, tzinfo=timezone.utc))
    create_goal(patient, THIS_WEEK, "This week's")

    week = client.get(f"/api/v1/me/goals?week={any_day}", headers=auth)

    assert week.status_code == 200
    assert week.json["week_start"] == "2026-11-16" and week.json["week_end"] == "2026-11-22"
    assert week.json["current"] is False and week.json["open_until"] == "2026-11-24"
    assert [g["text"] for g in week.json["goals"]] == ["Last week's"]
    assert (week.json["done"], week.json["total"], week.json["rate"]) == (1, 1, 100.0)


def test_a_week_that_has_not_started_is_refused(client, auth):
    response = client.get("/api/v1/me/goals?week=2026-11-30", headers=auth)

    assert problem(response, 422)["errors"] == {"week": [
        "Goals are set for the current week; later weeks have none yet."]}


# --- the grace period: last week's goals on Monday and Tuesday -------------------------

@pytest.mark.parametrize("now, status", [
    ("2026-11-23T00:00:00-05:00", 200),  # Monday, first minute
    ("2026-11-24T23:59:00-05:00", 200),  # Tuesday, last minute
    ("2026-11-25T00:00:00-05:00", 409),  # Wednesday: last week is closed
])
def test_last_weeks_goals_can_be_marked_done_until_tuesday_night(client, auth, patient, clock, now, status):
    goal = create_goal(patient, LAST_WEEK, "Go to two meetings")
    clock.set(now)

    response = client.patch(f"/api/v1/me/goals/{goal.id}", headers=auth, json={"done": True})

    assert response.status_code == status, response.json
    assert goals_stored() == [(LAST_WEEK, "Go to two meetings", status == 200)]
    if status == 409:
        assert "2026-11-24" in problem(response, 409)["detail"]


def test_last_weeks_goals_cannot_be_reworded_or_deleted_even_in_the_grace_period(client, auth, patient):
    goal = create_goal(patient, LAST_WEEK, "Go to two meetings")

    reworded = client.patch(f"/api/v1/me/goals/{goal.id}", headers=auth, json={"text": "One meeting"})
    deleted = client.delete(f"/api/v1/me/goals/{goal.id}", headers=auth)

    problem(reworded, 409)
    problem(deleted, 409)
    assert goals_stored() == [(LAST_WEEK, "Go to two meetings", False)]


def test_a_goal_cannot_be_added_to_a_past_week(client, auth):
    # The body has no week: a new goal always lands in the current week.
    response = client.post("/api/v1/me/goals", headers=auth, json={"text": "Late", "week_start": "2026-11-16"})

    assert problem(response, 422)["errors"] == {"week_start": ["Unknown field."]}
    assert goals_stored() == []


# --- weeks start on Monday in the patient's own time zone -----------------------------

@pytest.mark.parametrize("timezone_name, week_start", [
    # 2026-11-23 04:30 UTC: Sunday 23:30 in New York, Monday 10:00 in Kolkata.
    ("America/New_York", "2026-11-16"),
    ("Asia/Kolkata", "2026-11-23"),
])
def test_the_patients_time_zone_decides_which_week_a_goal_is_for(client, make, clock, timezone_name, week_start):
    clock.set("2026-11-23T04:30:00+00:00")
    auth = make.headers(make.patient(timezone=timezone_name))

    added = client.post("/api/v1/me/goals", headers=auth, json={"text": "Sleep by eleven"})
    week = client.get("/api/v1/me/goals", headers=auth)

    assert added.json["week_start"] == week_start
    assert week.json["week_start"] == week_start and week.json["total"] == 1


@pytest.mark.parametrize("timezone_name, status", [
    # 2026-11-25 04:30 UTC: Tuesday 23:30 in New York (grace), Wednesday 10:00 in Kolkata (closed).
    ("America/New_York", 200),
    ("Asia/Kolkata", 409),
])
def test_the_grace_period_ends_at_midnight_in_the_patients_time_zone(client, make, clock, timezone_name, status):
    patient = make.patient(timezone=timezone_name)
    goal = create_goal(patient, LAST_WEEK)
    clock.set("2026-11-25T04:30:00+00:00")

    response = client.patch(f"/api/v1/me/goals/{goal.id}", headers=make.headers(patient), json={"done": True})

    assert response.status_code == status


# --- bad input: 422 with per-field errors, nothing written ------------------------------

@pytest.mark.parametrize("body, field", [
    ({}, "text"),
    ({"text": ""}, "text"),
    ({"text": "   "}, "text"),
    ({"text": "x" * 201}, "text"),
    ({"text": 5}, "text"),
    ({"text": None}, "text"),
    ({"text": ["Walk"]}, "text"),
    ({"text": "Walk\x00"}, "text"),
    ({"text": "Walk\nand run"}, "text"),
    ({"text": "Walk", "done": True}, "done"),
    ({"text": "Walk", "patient_id": 2}, "patient_id"),
])
def test_a_bad_new_goal_is_refused_field_by_field_and_nothing_is_written(client, auth, body, field):
    response = client.post("/api/v1/me/goals", headers=auth, json=body)

    assert list(problem(response, 422)["errors"]) == [field]
    assert goals_stored() == []


def test_a_goal_with_an_unpaired_surrogate_is_refused_not_a_server_error(client, auth):
    # Valid JSON, but not UTF-8: it must never reach the database driver.
    response = client.post("/api/v1/me/goals", headers={**auth, "Content-Type": "application/json"},
                           data='{"text": "walk \\ud800"}')

    assert list(problem(response, 422)["errors"]) == ["text"]
    assert goals_stored() == []


def test_a_goal_of_200_characters_is_accepted(client, auth):
    assert client.post("/api/v1/me/goals", headers=auth, json={"text": "x" * 200}).status_code == 201


@pytest.mark.parametrize("body, field", [
    ({}, "_schema"),
    ({"done": "yes"}, "done"),
    ({"done": 1}, "done"),
    ({"done": None}, "done"),
    ({"text": ""}, "text"),
    ({"text": "x" * 201}, "text"),
    ({"done": True, "week_start": "2026-11-16"}, "week_start"),
])
def test_a_bad_change_to_a_goal_is_refused_and_changes_nothing(client, auth, patient, body, field):
    goal = create_goal(patient, THIS_WEEK, "Walk daily")

    response = client.patch(f"/api/v1/me/goals/{goal.id}", headers=auth, json=body)

    assert list(problem(response, 422)["errors"]) == [field]
    assert goals_stored() == [(THIS_WEEK, "Walk daily", False)]


@pytest.mark.parametrize("query", ["week=2026-13-01", "week=20261123", "week=2026-W48-1", "week=yesterday", "week="])
def test_a_bad_week_is_refused(client, auth, query):
    assert list(problem(client.get(f"/api/v1/me/goals?{query}", headers=auth), 422)["errors"]) == ["week"]


@pytest.mark.parametrize("query", ["weeks=0", "weeks=53", "weeks=x", "weeks=1.5", "weeks=-1", "weeks="])
def test_a_bad_number_of_weeks_is_refused(client, make, patient, query):
    clinician = patient.patient_profile.care_team_members[0].clinician

    response = client.get(f"/api/v1/patients/{patient.id}/goals?{query}", headers=make.headers(clinician))

    assert list(problem(response, 422)["errors"]) == ["weeks"]


# --- whose goals: another patient's goal does not exist ------------------------------------

def test_another_patients_goal_cannot_be_changed_or_deleted_or_even_seen_to_exist(client, make, auth):
    other = make.patient()
    goal = create_goal(other, THIS_WEEK, "Their private goal")

    changed = client.patch(f"/api/v1/me/goals/{goal.id}", headers=auth, json={"done": True})
    deleted = client.delete(f"/api/v1/me/goals/{goal.id}", headers=auth)
    missing = client.patch("/api/v1/me/goals/999999", headers=auth, json={"done": True})

    for response in (changed, deleted):
        body = problem(response, 404)
        assert body["detail"] == problem(missing, 404)["detail"]
        assert "Their private goal" not in response.get_data(as_text=True)
    assert goals_stored() == [(THIS_WEEK, "Their private goal", False)]


@pytest.mark.parametrize("goal_id", ["2147483648", "99999999999999999999999"])
def test_a_goal_id_beyond_any_stored_one_is_simply_not_found(client, auth, goal_id):
    problem(client.patch(f"/api/v1/me/goals/{goal_id}", headers=auth, json={"done": True}), 404)
    problem(client.delete(f"/api/v1/me/goals/{goal_id}", headers=auth), 404)


def test_a_patients_own_week_shows_only_their_goals(client, make, auth, patient):
    create_goal(make.patient(), THIS_WEEK, "Someone else's")
    create_goal(patient, THIS_WEEK, "Mine")

    assert [g["text"] for g in client.get("/api/v1/me/goals", headers=auth).json["goals"]] == ["Mine"]


@pytest.mark.parametrize("request_args", [
    ("get", "/api/v1/me/goals", None),
    ("post", "/api/v1/me/goals", {"text": "Walk"}),
    ("patch", "/api/v1/me/goals/1", {"done": True}),
    ("delete", "/api/v1/me/goals/1", None),
])
def test_staff_have_no_goals_of_their_own(client, make, request_args):
    method, url, body = request_args

    response = getattr(client, method)(url, headers=make.headers(make.clinician()), json=body)

    problem(response, 403)


@pytest.mark.parametrize("method, url", [
    ("get", "/api/v1/me/goals"), ("post", "/api/v1/me/goals"), ("patch", "/api/v1/me/goals/1"),
    ("delete", "/api/v1/me/goals/1"), ("get", "/api/v1/patients/1/goals"),
])
def test_every_goal_route_needs_a_login(client, method, url):
    problem(getattr(client, method)(url, json={"text": "Walk"}), 401)


# --- the care team's view: last N weeks --------------------------------------------------

def done(day: int) -> datetime:
    return datetime(2026, 11, day, 12, tzinfo=timezone.utc)


@pytest.fixture
def history(patient):
    """Three weeks of goals: 1 of 2 done, none set, 2 of 3 done (this week)."""
    create_goal(patient, date(2026, 11, 2), "Too old to show")
    create_goal(patient, date(2026, 11, 9), "Walk", done_at=done(10))
    create_goal(patient, date(2026, 11, 9), "Meeting")
    create_goal(patient, THIS_WEEK, "Cook", done_at=done(23))
    create_goal(patient, THIS_WEEK, "Call mum", done_at=done(23))
    create_goal(patient, THIS_WEEK, "Read")
    return patient


def test_the_care_team_sees_the_last_weeks_with_their_completion_oldest_first(client, make, history):
    clinician = history.patient_profile.care_team_members[0].clinician

    response = client.get(f"/api/v1/patients/{history.id}/goals?weeks=3", headers=make.headers(clinician))

    assert response.status_code == 200, response.json
    body = response.json
    assert body["patient_id"] == history.id
    assert [(w["week_start"], w["done"], w["total"], w["rate"], w["current"]) for w in body["weeks"]] == [
        ("2026-11-09", 1, 2, 50.0, False),
        ("2026-11-16", 0, 0, None, False),
        ("2026-11-23", 2, 3, 66.7, True),
    ]
    assert [g["text"] for g in body["weeks"][0]["goals"]] == ["Walk", "Meeting"]
    assert (body["done"], body["total"], body["rate"]) == (3, 5, 60.0)


def test_the_care_team_sees_8_weeks_by_default(client, make, history):
    clinician = history.patient_profile.care_team_members[0].clinician

    body = client.get(f"/api/v1/patients/{history.id}/goals", headers=make.headers(clinician)).json

    assert [w["week_start"] for w in body["weeks"]][:2] == ["2026-10-05", "2026-10-12"]
    assert len(body["weeks"]) == 8 and body["total"] == 6


def test_an_admin_of_the_organization_sees_a_patients_goals(client, make, history):
    admin = make.admin(history.organization)

    response = client.get(f"/api/v1/patients/{history.id}/goals", headers=make.headers(admin))

    assert response.status_code == 200 and response.json["total"] == 6


def test_a_patient_reaches_their_own_goal_history(client, auth, history):
    assert client.get(f"/api/v1/patients/{history.id}/goals", headers=auth).json["total"] == 6


@pytest.mark.parametrize("outsider", ["clinician off the care team", "clinician of another organization",
                                      "admin of another organization", "another patient"])
def test_outsiders_get_404_and_no_data_for_a_patients_goals(client, make, history, outsider):
    organization = history.organization
    actor = {
        "clinician off the care team": lambda: make.clinician(organization),
        "clinician of another organization": lambda: make.clinician(),
        "admin of another organization": lambda: make.admin(),
        "another patient": lambda: make.patient(organization=organization),
    }[outsider]()

    response = client.get(f"/api/v1/patients/{history.id}/goals", headers=make.headers(actor))

    body = problem(response, 404)
    assert set(body) <= {"type", "title", "status", "detail"}
    assert "Walk" not in response.get_data(as_text=True)
