"""PUT and GET of a patient's daily check-in: idempotent, versioned, bounded."""
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from models import Checkin, CheckinRevision, CopingSkill, Organization, db
from tests.factories import checkin_body, problem
from tests.queries import count_queries

TODAY = "2026-11-23"  # the frozen clock's day in New York


def put(client, headers, day, body, if_match=None):
    extra = {"If-Match": if_match} if if_match is not None else {}
    return client.put(f"/api/v1/me/checkins/{day}", headers={**headers, **extra}, json=body)


def revisions() -> list[tuple[int, dict]]:
    return [(r.version, r.content) for r in db.session.scalars(
        select(CheckinRevision).order_by(CheckinRevision.version))]


def stored() -> list[tuple[date, int, int]]:
    return [(c.day, c.version, c.craving) for c in db.session.scalars(
        select(Checkin).order_by(Checkin.day).execution_options(populate_existing=True))]


# --- writing a day ---------------------------------------------------------

def test_the_first_write_of_a_day_is_created_with_version_1(client, auth, count):
    response = put(client, auth, TODAY, checkin_body(craving=4))

    assert response.status_code == 201, response.json
    assert response.headers["ETag"] == '"1"'
    assert response.json["version"] == 1
    assert response.json["date"] == TODAY
    assert response.json["craving"] == 4
    assert response.json["late"] is False
    assert count(Checkin) == 1
    assert [v for v, _ in revisions()] == [1]


def test_an_identical_retry_is_acknowledged_without_a_new_revision(client, auth, count):
    first = put(client, auth, TODAY, checkin_body())

    retry = put(client, auth, TODAY, checkin_body())

    assert retry.status_code == 200
    assert retry.headers["ETag"] == first.headers["ETag"] == '"1"'
    assert retry.json["version"] == 1
    assert count(Checkin) == 1
    assert count(CheckinRevision) == 1


def test_a_retry_that_means_the_same_is_recognised_as_unchanged(client, auth, count):
    put(client, auth, TODAY, checkin_body(coping_skills=["urge_surfing", "journaling"],
                                          triggers=["stress", "boredom"], note="ok day"))

    # The phone's list order, a padded note and an explicit null are not an edit.
    retry = put(client, auth, TODAY, checkin_body(coping_skills=["journaling", "urge_surfing"],
                                                  triggers=["boredom", "stress"], note="  ok day ",
                                                  sleep_quality=None))

    assert retry.status_code == 200
    assert retry.headers["ETag"] == '"1"'
    assert count(CheckinRevision) == 1


def test_an_edit_with_the_current_version_makes_version_2_and_keeps_both_revisions(client, auth, count):
    put(client, auth, TODAY, checkin_body(craving=3))

    edited = put(client, auth, TODAY, checkin_body(craving=7), if_match='"1"')

    assert edited.status_code == 200, edited.json
    assert edited.headers["ETag"] == '"2"'
    assert edited.json["version"] == 2
    assert edited.json["craving"] == 7
    assert count(Checkin) == 1
    assert [(v, content["craving"]) for v, content in revisions()] == [(1, 3), (2, 7)]
    read = client.get(f"/api/v1/me/checkins/{TODAY}", headers=auth)
    assert read.headers["ETag"] == '"2"' and read.json["craving"] == 7


def test_each_edit_needs_the_version_it_was_based_on(client, auth):
    put(client, auth, TODAY, checkin_body(craving=1))
    put(client, auth, TODAY, checkin_body(craving=2), if_match='"1"')

    third = put(client, auth, TODAY, checkin_body(craving=3), if_match='"2"')

    assert third.status_code == 200 and third.headers["ETag"] == '"3"'
    assert [(v, content["craving"]) for v, content in revisions()] == [(1, 1), (2, 2), (3, 3)]


def test_an_edit_without_if_match_is_refused_with_428_and_changes_nothing(client, auth, count):
    put(client, auth, TODAY, checkin_body(craving=3))

    response = put(client, auth, TODAY, checkin_body(craving=9))

    body = problem(response, 428)
    assert "If-Match" in body["detail"]
    assert stored() == [(date(2026, 11, 23), 1, 3)]
    assert count(CheckinRevision) == 1


def test_a_stale_phone_cannot_overwrite_a_newer_edit(client, auth, count):
    put(client, auth, TODAY, checkin_body(craving=3))
    put(client, auth, TODAY, checkin_body(craving=5), if_match='"1"')  # the other phone

    stale = put(client, auth, TODAY, checkin_body(craving=9), if_match='"1"')

    body = problem(stale, 412)
    assert "version 2" in body["detail"]
    assert stored() == [(date(2026, 11, 23), 2, 5)]
    assert count(CheckinRevision) == 2


@pytest.mark.parametrize("if_match", ['W/"1"', 'W/"1", W/"2"'])
def test_a_weak_etag_never_matches_so_the_edit_is_refused_with_412(client, auth, count, if_match):
    put(client, auth, TODAY, checkin_body(craving=3))

    response = put(client, auth, TODAY, checkin_body(craving=9), if_match=if_match)

    problem(response, 412)
    assert stored() == [(date(2026, 11, 23), 1, 3)]


def test_a_strong_tag_beside_a_weak_one_still_matches(client, auth):
    put(client, auth, TODAY, checkin_body(craving=3))

    assert put(client, auth, TODAY, checkin_body(craving=9), if_match='W/"7", "1"').status_code == 200


@pytest.mark.parametrize("if_match", ['"1"', '"7"', "1"])
def test_if_match_on_a_day_never_written_is_refused_with_412(client, auth, count, if_match):
    response = put(client, auth, TODAY, checkin_body(), if_match=if_match)

    problem(response, 412)
    assert count(Checkin) == 0
    assert count(CheckinRevision) == 0


@pytest.mark.parametrize("timezone, day, expected", [
    # At 19:00 UTC it is already 00:30 on the 24th in Kolkata, 11:00 on the 23rd in Los Angeles.
    ("Asia/Kolkata", "2026-11-24", 201),
    ("America/Los_Angeles", "2026-11-24", 422),
    ("America/Los_Angeles", "2026-11-23", 201),
    ("Pacific/Kiritimati", "2026-11-24", 201),
    ("Pacific/Kiritimati", "2026-11-25", 422),
    ("Pacific/Pago_Pago", "2026-11-23", 201),
    ("Pacific/Pago_Pago", "2026-11-24", 422),
])
def test_the_patients_own_time_zone_decides_what_is_the_future(client, make, clock, count, timezone, day, expected):
    clock.set("2026-11-23T19:00:00+00:00")
    auth = make.headers(make.patient(timezone=timezone))

    response = put(client, auth, day, checkin_body())

    if expected == 201:
        assert response.status_code == 201, response.json
        assert response.json["late"] is False
    else:
        body = problem(response, 422)
        assert "future" in body["errors"]["date"][0]
        assert count(Checkin) == 0


def test_a_far_future_day_is_refused(client, auth, count):
    problem(put(client, auth, "2027-01-01", checkin_body()), 422)
    assert count(Checkin) == 0


# --- the edit window -------------------------------------------------------

def test_a_day_can_be_edited_until_just_before_the_window_closes(client, auth, clock):
    put(client, auth, TODAY, checkin_body(craving=3))
    clock.advance(hours=71, minutes=59)

    response = put(client, auth, TODAY, checkin_body(craving=4), if_match='"1"')

    assert response.status_code == 200, response.json
    assert response.json["version"] == 2


@pytest.mark.parametrize("if_match", ['"1"', None])
def test_a_day_is_locked_72_hours_after_it_was_first_recorded(client, auth, clock, count, if_match):
    put(client, auth, TODAY, checkin_body(craving=3))
    put(client, auth, TODAY, checkin_body(craving=4), if_match='"1"')
    clock.advance(hours=72)

    response = put(client, auth, TODAY, checkin_body(craving=9), if_match=if_match and '"2"')

    body = problem(response, 409)
    assert "72 hours" in body["detail"] and "can no longer be changed" in body["detail"]
    assert stored() == [(date(2026, 11, 23), 2, 4)]
    assert count(CheckinRevision) == 2


def test_the_edit_window_is_the_organizations_setting(client, make, clock, count):
    patient = make.patient()
    auth = make.headers(patient)
    db.session.get(Organization, patient.organization_id).edit_window_hours = 24
    db.session.commit()
    put(client, auth, TODAY, checkin_body(craving=3))
    clock.advance(hours=24)

    response = put(client, auth, TODAY, checkin_body(craving=9), if_match='"1"')

    assert "24 hours" in problem(response, 409)["detail"]
    assert count(CheckinRevision) == 1


def test_an_identical_retry_after_the_window_is_still_acknowledged(client, auth, clock, count):
    put(client, auth, TODAY, checkin_body())
    clock.advance(days=10)

    retry = put(client, auth, TODAY, checkin_body())

    assert retry.status_code == 200
    assert retry.headers["ETag"] == '"1"'
    assert count(CheckinRevision) == 1


# --- late entries ----------------------------------------------------------

@pytest.mark.parametrize("days_back", [1, 7, 30])
def test_a_day_never_written_can_be_filled_in_late_up_to_30_days_back(client, auth, days_back):
    day = date(2026, 11, 23) - timedelta(days=days_back)

    response = put(client, auth, day.isoformat(), checkin_body())

    assert response.status_code == 201, response.json
    assert response.json["late"] is True
    assert response.json["date"] == day.isoformat()


@pytest.mark.parametrize("days_back", [31, 365])
def test_a_day_more_than_30_days_back_cannot_be_filled_in(client, auth, count, days_back):
    day = date(2026, 11, 23) - timedelta(days=days_back)

    body = problem(put(client, auth, day.isoformat(), checkin_body()), 422)

    assert "30 days" in body["errors"]["date"][0]
    assert count(Checkin) == 0


def test_how_far_back_a_day_can_be_filled_in_is_the_organizations_setting(client, make, count):
    patient = make.patient()
    auth = make.headers(patient)
    db.session.get(Organization, patient.organization_id).late_entry_days = 7
    db.session.commit()

    assert put(client, auth, "2026-11-16", checkin_body()).status_code == 201
    problem(put(client, auth, "2026-11-15", checkin_body()), 422)
    assert count(Checkin) == 1


# --- coping skills ---------------------------------------------------------

def test_an_unknown_coping_skill_code_is_refused(client, auth, count):
    response = put(client, auth, TODAY, checkin_body(coping_skills=["urge_surfing", "juggling"]))

    body = problem(response, 422)
    assert "juggling" in body["errors"]["coping_skills"][0]
    assert count(Checkin) == 0


def test_a_skill_retired_from_the_catalogue_is_refused(client, make, count):
    patient = make.patient()
    auth = make.headers(patient)
    db.session.scalars(select(CopingSkill).where(
        CopingSkill.organization_id == patient.organization_id, CopingSkill.code == "journaling",
    )).one().active = False
    db.session.commit()

    problem(put(client, auth, TODAY, checkin_body(coping_skills=["journaling"])), 422)
    assert count(Checkin) == 0


def test_another_organizations_skill_is_unknown_here(client, make, count):
    other = make.organization()
    db.session.add(CopingSkill(organization_id=other.id, code="equine_therapy", label="Equine therapy"))
    db.session.commit()
    auth = make.headers(make.patient())

    problem(put(client, auth, TODAY, checkin_body(coping_skills=["equine_therapy"])), 422)
    assert count(Checkin) == 0


def test_every_default_skill_and_free_custom_entries_are_accepted(client, auth):
    catalogue = client.get("/api/v1/catalogue", headers=auth).json
    codes = [skill["code"] for skill in catalogue["coping_skills"]]
    assert "urge_surfing" in codes and "meeting_attended" in codes and len(codes) == 11

    response = put(client, auth, TODAY, checkin_body(
        coping_skills=codes, custom_coping_skills=["Called my sponsor", "Cold shower"]))

    assert response.status_code == 201, response.json
    assert sorted(response.json["coping_skills"]) == sorted(codes)
    assert response.json["custom_coping_skills"] == ["Called my sponsor", "Cold shower"]


def test_a_skill_an_admin_adds_to_the_catalogue_can_be_used(client, make):
    organization = make.organization()
    admin_auth = make.headers(make.admin(organization))
    auth = make.headers(make.patient(organization=organization))

    added = client.post("/api/v1/coping-skills", headers=admin_auth,
                        json={"code": "art_therapy", "label": "Art therapy"})

    assert added.status_code == 201, added.json
    assert put(client, auth, TODAY, checkin_body(coping_skills=["art_therapy"])).status_code == 201


# --- bounds on every field -------------------------------------------------

BAD_VALUES = [
    ("craving", -1), ("craving", 11), ("craving", 3.5), ("craving", "3"), ("craving", True), ("craving", None),
    ("mood", -1), ("mood", 11), ("mood", "6"), ("mood", False), ("mood", None),
    ("sleep_hours", -0.25), ("sleep_hours", 24.25), ("sleep_hours", 7.3), ("sleep_hours", "7.5"),
    ("sleep_hours", True), ("sleep_hours", None),
    ("sleep_quality", 0), ("sleep_quality", 6), ("sleep_quality", "3"), ("sleep_quality", 2.5),
    ("used_substance", "yes"), ("used_substance", "false"), ("used_substance", 0), ("used_substance", None),
    ("medication_taken", "yes"), ("medication_taken", 1),
    ("self_harm_thoughts", "no"), ("self_harm_thoughts", 0),
    ("note", "x" * 1001), ("note", 42),
    ("substances", ["heroin"]), ("substances", "alcohol"),
    ("triggers", ["weather"]), ("triggers", "stress"), ("triggers", ["stress"] * 12),
    ("coping_skills", ["Urge Surfing"]), ("coping_skills", "urge_surfing"), ("coping_skills", ["x" * 41]),
    ("custom_coping_skills", [""]), ("custom_coping_skills", ["x" * 81]),
    ("custom_coping_skills", [f"skill {i}" for i in range(11)]), ("custom_coping_skills", [3]),
    ("mood_ring", "blue"), ("version", 5), ("late", True), ("date", TODAY),
]


@pytest.mark.parametrize("field, value", BAD_VALUES)
def test_every_out_of_bounds_value_is_refused_per_field(client, auth, count, field, value):
    response = put(client, auth, TODAY, checkin_body(**{field: value}))

    body = problem(response, 422)
    assert field in body["errors"], body
    assert count(Checkin) == 0


def test_substances_are_refused_when_no_use_is_reported(client, auth, count):
    response = put(client, auth, TODAY, checkin_body(used_substance=False, substances=["alcohol"]))

    assert "substances" in problem(response, 422)["errors"]
    assert count(Checkin) == 0


@pytest.mark.parametrize("field", ["craving", "mood", "sleep_hours", "used_substance"])
def test_every_required_field_must_be_present(client, auth, count, field):
    body = checkin_body()
    del body[field]

    assert field in problem(put(client, auth, TODAY, body), 422)["errors"]
    assert count(Checkin) == 0


def test_every_problem_is_reported_at_once(client, auth):
    response = put(client, auth, TODAY, {
        "craving": 11, "mood": "good", "sleep_hours": 7.3, "sleep_quality": 0,
        "used_substance": "yes", "note": "x" * 1001, "triggers": ["weather"], "mood_ring": "blue",
    })

    errors = problem(response, 422)["errors"]
    assert set(errors) == {"craving", "mood", "sleep_hours", "sleep_quality", "used_substance",
                           "note", "triggers", "mood_ring"}


def test_domain_problems_are_reported_together_too(client, make, clock):
    clock.set("2026-11-23T19:00:00+00:00")
    auth = make.headers(make.patient(timezone="America/Los_Angeles"))

    errors = problem(put(client, auth, "2026-11-24", checkin_body(coping_skills=["juggling"])), 422)["errors"]

    assert set(errors) == {"date", "coping_skills"}


@pytest.mark.parametrize("field, value", [
    ("craving", 0), ("craving", 10), ("mood", 0), ("mood", 10),
    ("sleep_hours", 0), ("sleep_hours", 24), ("sleep_hours", 23.75), ("sleep_hours", 7),
    ("sleep_quality", 1), ("sleep_quality", 5), ("sleep_quality", None),
    ("medication_taken", True), ("medication_taken", None), ("self_harm_thoughts", False),
    ("note", "x" * 1000), ("note", None), ("note", "Früh aufgewacht 😴"),
    ("substances", []), ("triggers", []), ("coping_skills", []),
])
def test_every_bound_itself_is_accepted(client, auth, field, value):
    response = put(client, auth, TODAY, checkin_body(**{field: value}))

    assert response.status_code == 201, response.json
    assert response.json[field] == value


def test_substances_used_are_recorded_with_the_use(client, auth):
    response = put(client, auth, TODAY, checkin_body(used_substance=True, substances=["opioids", "alcohol"]))

    assert response.status_code == 201
    assert response.json["used_substance"] is True
    assert sorted(response.json["substances"]) == ["alcohol", "opioids"]


@pytest.mark.parametrize("day", [
    "2026-13-01", "2026-02-30", "2026-11-2", "26-11-23", "20261123", "2026-W48-1",
    "2026-11-23T00:00", "yesterday", "2026-11-23 ",
])
def test_a_malformed_date_in_the_path_is_refused(client, auth, count, day):
    response = put(client, auth, day, checkin_body())

    assert "date" in problem(response, 422)["errors"]
    assert count(Checkin) == 0
    assert "date" in problem(client.get(f"/api/v1/me/checkins/{day}", headers=auth), 422)["errors"]


@pytest.mark.parametrize("body", [[], "craving=3", 5, None])
def test_a_body_that_is_not_a_json_object_is_refused(client, auth, count, body):
    response = client.put(f"/api/v1/me/checkins/{TODAY}", headers=auth, json=body)

    problem(response, 422)
    assert count(Checkin) == 0


def test_staff_have_no_check_ins_of_their_own(client, make, count):
    auth = make.headers(make.clinician())

    problem(put(client, auth, TODAY, checkin_body()), 403)
    problem(client.get("/api/v1/me/checkins", headers=auth), 403)
    assert count(Checkin) == 0


# --- reading ---------------------------------------------------------------

def test_one_day_is_read_back_with_its_etag(client, auth):
    put(client, auth, TODAY, checkin_body(craving=2))

    response = client.get(f"/api/v1/me/checkins/{TODAY}", headers=auth)

    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    assert response.json["craving"] == 2 and response.json["date"] == TODAY


def test_a_day_without_a_check_in_is_404(client, auth):
    problem(client.get("/api/v1/me/checkins/2026-11-22", headers=auth), 404)


@pytest.fixture
def history(make, patient):
    """Ten days of check-ins, 2026-11-14 .. 2026-11-23, craving = day of month - 10."""
    for offset in range(10):
        day = date(2026, 11, 14) + timedelta(days=offset)
        make.checkin(patient, day, craving=day.day - 14)
    return patient


def days(response) -> list[str]:
    return [item["date"] for item in response.json["items"]]


def test_the_list_is_newest_first(client, auth, history):
    response = client.get("/api/v1/me/checkins", headers=auth)

    assert response.status_code == 200
    assert days(response) == [f"2026-11-{d}" for d in range(23, 13, -1)]
    assert response.json["total"] == 10


def test_the_list_is_bounded_by_from_and_to_inclusive(client, auth, history):
    response = client.get("/api/v1/me/checkins?from=2026-11-16&to=2026-11-18", headers=auth)

    assert days(response) == ["2026-11-18", "2026-11-17", "2026-11-16"]
    assert response.json["total"] == 3


@pytest.mark.parametrize("query, expected", [
    ("page=1&page_size=4", ["2026-11-23", "2026-11-22", "2026-11-21", "2026-11-20"]),
    ("page=3&page_size=4", ["2026-11-15", "2026-11-14"]),
    ("page=4&page_size=4", []),
    ("from=2026-11-20&page=2&page_size=3", ["2026-11-20"]),
])
def test_the_list_is_paginated(client, auth, history, query, expected):
    response = client.get(f"/api/v1/me/checkins?{query}", headers=auth)

    assert days(response) == expected
    paging = dict(part.split("=") for part in query.split("&"))
    assert response.json["page"] == int(paging["page"])
    assert response.json["page_size"] == int(paging["page_size"])
    assert response.json["total"] == (4 if "from" in paging else 10)


def test_the_list_shows_only_the_callers_own_check_ins(client, make, history):
    other = make.patient()
    make.checkin(other, date(2026, 11, 23), craving=10)

    response = client.get("/api/v1/me/checkins", headers=make.headers(other))

    assert response.json["total"] == 1
    assert response.json["items"][0]["craving"] == 10


@pytest.mark.parametrize("query, field", [
    ("from=2026-11-20&to=2026-11-19", "from"),
    ("from=2026-13-01", "from"), ("to=soon", "to"),
    ("page=0", "page"), ("page=x", "page"), ("page=1.0", "page"), ("page=%2B1", "page"), ("page=", "page"),
    ("page=1_0", "page"), ("page_size=0", "page_size"), ("page_size=201", "page_size"),
])
def test_a_bad_list_query_is_refused(client, auth, query, field):
    response = client.get(f"/api/v1/me/checkins?{query}", headers=auth)

    assert field in problem(response, 422)["errors"]


# --- what a write costs ------------------------------------------------------

def newcomer_and_veteran(make) -> tuple:
    """Two patients: one with no history, one with 90 days of it."""
    newcomer, veteran = make.patient(), make.patient()
    for back in range(1, 91):
        make.checkin(veteran, date(2026, 11, 23) - timedelta(days=back), craving=3)
    return newcomer, veteran


def test_a_new_day_costs_the_same_few_statements_whatever_the_history(client, make):
    counts = []
    for patient in newcomer_and_veteran(make):
        auth = make.headers(patient)
        with count_queries() as statements:
            assert put(client, auth, TODAY, checkin_body()).status_code == 201
        counts.append(statements())

    # The token with the caller, the history the alert rules read with the
    # coping-skill codes (one statement), the day, its revision, and the audit
    # event: one commit. On PostgreSQL the patient's lock comes first (SQLite's
    # write request holds its lock from BEGIN), and the day and its revision
    # are one statement.
    assert counts == [5, 5]


def test_an_edit_costs_the_same_few_statements_whatever_the_history(client, make):
    counts = []
    for patient in newcomer_and_veteran(make):
        auth = make.headers(patient)
        assert put(client, auth, TODAY, checkin_body(craving=3)).status_code == 201
        with count_queries() as statements:
            # A new note: nothing an alert rule reads changes.
            assert put(client, auth, TODAY, checkin_body(craving=3, note="better by evening"),
                       if_match='"1"').status_code == 200
        counts.append(statements())

    # The token with the caller, the history with the coping-skill codes, the
    # day read under its lock, the change, its revision, and the audit event:
    # one commit. On PostgreSQL the patient's lock comes first, and the change
    # and its revision are one statement.
    assert counts == [6, 6]


def test_a_write_and_its_audit_event_are_committed_together(client, auth, patient, count):
    from models import AuditEvent

    assert put(client, auth, TODAY, checkin_body()).status_code == 201

    [event] = db.session.scalars(select(AuditEvent))
    assert (event.actor_id, event.patient_id, event.action, event.outcome, event.status_code,
            event.detail) == (patient.id, patient.id, "write", "allowed", 201, {"method": "PUT", "day": TODAY})


def test_a_write_whose_commit_fails_keeps_nothing_but_its_failed_audit_event(client, auth, patient, count,
                                                                             monkeypatch):
    from sqlalchemy.orm import Session

    from models import AuditEvent

    real_commit = Session.commit
    failures = []

    def failing_commit(session):
        if not failures:
            failures.append(True)
            raise RuntimeError("the disk is full")
        return real_commit(session)

    monkeypatch.setattr(Session, "commit", failing_commit)

    assert put(client, auth, TODAY, checkin_body()).status_code == 500

    monkeypatch.undo()
    assert failures and count(Checkin) == 0 and count(CheckinRevision) == 0
    [event] = db.session.scalars(select(AuditEvent))
    assert (event.actor_id, event.patient_id, event.outcome, event.status_code) == (patient.id, patient.id,
                                                                                    "failed", 500)
