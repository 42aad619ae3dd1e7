"""The caseload's kept rows: a patient's figures are recomputed whenever what they read changes.

Every caseload view in the suite runs with CASELOAD_CHECK_KEPT_FIGURES, so
any test that writes and then reads the caseload also proves the kept rows
current. These tests pin the mechanism itself: the triggers, the day and
the settings that make a row stale, a reader racing a writer, and the page
written without marshmallow against the schema's own output.
"""
import json
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import create_engine, insert, text, update

from models import Alert, AlertSeverity, AlertStatus, CaseloadRow, Checkin, Organization, db
from models.caseload import SOURCES
from schemas.dashboard import CaseloadPageSchema
from services import caseload as caseload_service
from services.alert_rules import thresholds
from services.caseload import KeptFiguresDiffer, caseload_figures
from tests.factories import (
    assessment_response,
    checkin_body,
    create_checkins,
    create_session,
    questionnaire_answers,
)

TODAY = date(2026, 11, 23)


def kept(patient_id: int) -> CaseloadRow:
    db.session.expire_all()
    return db.session.get(CaseloadRow, patient_id)


def view(client, headers, **query) -> dict:
    response = client.get("/api/v1/caseload", headers=headers, query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def team(make, clock):
    clinician = make.clinician()
    patient = make.patient(clinician, name="Ana")
    create_checkins(patient, {TODAY - timedelta(days=n): {"craving": 3} for n in range(1, 6)})
    return {"clinician": clinician, "patient": patient, "headers": make.headers(clinician)}


def test_every_patient_has_a_row_from_enrolment_with_nothing_kept(make):
    patient = make.patient()

    row = kept(patient.id)

    assert (row.generation, row.figures, row.as_of) == (0, None, None)


def test_a_view_keeps_each_patients_figures_for_the_next(client, team):
    first = view(client, team["headers"])

    row = kept(team["patient"].id)
    assert row.as_of == TODAY and row.figures is not None
    assert json.loads(row.figures)["current_streak"] == first["items"][0]["current_streak"] == 5
    assert view(client, team["headers"]) == first


# --- what makes a kept row stale --------------------------------------------------------

def _write(table: str, patient_id: int, operation: str) -> None:
    """Change or delete the rows of table for patient_id, as raw SQL would."""
    statements = {
        "checkins": {
            "update": "UPDATE checkins SET craving = 9 WHERE patient_id = :p",
            "delete": "DELETE FROM checkin_revisions WHERE checkin_id IN "
                      "(SELECT id FROM checkins WHERE patient_id = :p);"
                      "DELETE FROM checkins WHERE patient_id = :p",
        },
        "alerts": {"update": "UPDATE alerts SET status = 'resolved' WHERE patient_id = :p",
                   "delete": "DELETE FROM alerts WHERE patient_id = :p"},
        "assessment_responses": {"update": "UPDATE assessment_responses SET total = 20 WHERE patient_id = :p",
                                 "delete": "DELETE FROM assessment_responses WHERE patient_id = :p"},
        "attendance_records": {"update": "UPDATE attendance_records SET status = 'missed' WHERE patient_id = :p",
                               "delete": "DELETE FROM attendance_records WHERE patient_id = :p"},
    }[table][operation]
    for statement in statements.split(";"):
        db.session.execute(text(statement), {"p": patient_id})
    db.session.commit()


def _one_of_each(patient, clinician, when) -> None:
    """One alert, one questionnaire answer and one session for patient."""
    db.session.add(Alert(
        organization_id=patient.organization_id, patient_id=patient.id, rule="craving_spike",
        severity=AlertSeverity.medium, status=AlertStatus.open, summary="Craving 9 or more",
        local_day=TODAY, open_key=f"{patient.id}:craving_spike:{when.isoformat()}",
    ))
    db.session.commit()
    assessment_response(patient, "phq9", questionnaire_answers("phq9", default=1), when, TODAY)
    create_session(patient, TODAY - timedelta(days=1), clinician)


@pytest.mark.parametrize("operation", ["insert", "update", "delete"])
@pytest.mark.parametrize("table", SOURCES)
def test_any_write_to_a_table_the_figures_read_clears_the_kept_row(client, make, team, clock, table, operation):
    patient = team["patient"]
    _one_of_each(patient, team["clinician"], clock.now)
    view(client, team["headers"])
    before = kept(patient.id)
    generation = before.generation
    assert before.figures is not None

    if operation == "insert":
        {
            "checkins": lambda: create_checkins(patient, {TODAY: {"used_substance": True}}),
            "alerts": lambda: _one_of_each(patient, team["clinician"], clock.now + timedelta(minutes=1)),
            "assessment_responses": lambda: assessment_response(
                patient, "gad7", questionnaire_answers("gad7"), clock.now, TODAY),
            "attendance_records": lambda: create_session(patient, TODAY, team["clinician"], status="missed"),
        }[table]()
    else:
        _write(table, patient.id, operation)

    after = kept(patient.id)
    assert after.figures is None and after.generation > generation
    view(client, team["headers"])  # and the next view computes them again, checked against the records
    assert kept(patient.id).figures is not None


def test_a_write_for_one_patient_leaves_the_others_rows_alone(client, make, team):
    other = make.patient(team["clinician"], name="Bo")
    view(client, team["headers"])

    create_checkins(team["patient"], {TODAY: {"used_substance": True}})

    assert kept(team["patient"].id).figures is None
    assert kept(other.id).figures is not None


def test_a_patients_checkin_through_the_api_shows_on_the_next_view(client, make, team):
    assert view(client, team["headers"])["items"][0]["risk"]["level"] == "low"

    response = client.put(f"/api/v1/me/checkins/{TODAY}", headers=make.headers(team["patient"]),
                          json=checkin_body(used_substance=True, craving=9))
    assert response.status_code == 201

    row = view(client, team["headers"])["items"][0]
    assert row["last_checkin"] == TODAY.isoformat() and row["current_streak"] == 0
    assert row["risk"]["level"] != "low"


def test_a_new_day_recomputes_the_figures(client, team, clock):
    assert view(client, team["headers"])["items"][0]["days_since_last_checkin"] == 1

    clock.advance(days=3)

    assert view(client, team["headers"])["items"][0]["days_since_last_checkin"] == 4
    assert kept(team["patient"].id).as_of == TODAY + timedelta(days=3)


def test_a_change_to_the_patients_profile_clears_the_kept_row(client, team):
    from models import PatientProfile

    view(client, team["headers"])
    profile = db.session.get(PatientProfile, team["patient"].id)
    profile.timezone = "Pacific/Kiritimati"  # UTC+14: already tomorrow there
    db.session.commit()

    assert kept(team["patient"].id).figures is None
    assert view(client, team["headers"])["items"][0]["today"] == (TODAY + timedelta(days=1)).isoformat()


def test_a_new_recovery_start_recomputes_the_days_adherence_counts(client, team):
    # Enrolled today with the five days before filled in late: 5 of 5. The
    # recovery start bounds those days too, so its change must clear the row.
    from models import PatientProfile

    assert view(client, team["headers"])["items"][0]["adherence_7"]["days_in_window"] == 5
    profile = db.session.get(PatientProfile, team["patient"].id)
    profile.recovery_start_date = TODAY - timedelta(days=2)
    db.session.commit()

    assert kept(team["patient"].id).figures is None
    assert view(client, team["headers"])["items"][0]["adherence_7"] == {
        "percent": 100.0, "days_reported": 2, "days_in_window": 2}


def test_new_thresholds_recompute_the_figures(client, team):
    patient = team["patient"]
    view(client, team["headers"])
    kept_inputs = kept(patient.id).inputs

    organization = db.session.get(Organization, team["clinician"].organization_id)
    organization.alert_thresholds = {**(organization.alert_thresholds or {}), "step_up_window_days": 10}
    db.session.commit()
    view(client, team["headers"])

    assert kept(patient.id).inputs != kept_inputs


def test_a_row_kept_from_other_figures_is_caught_by_the_check(app, team, clock):
    from models import User

    clinician = db.session.get(User, team["clinician"].id)
    caseload_service.caseload(clinician, clock.now)
    db.session.commit()
    # As if a write had reached the records and left the kept row as it was.
    figures = json.loads(kept(team["patient"].id).figures)
    figures["means_7"]["craving"]["value"] = 9.0
    db.session.execute(update(CaseloadRow).values(figures=json.dumps(figures, separators=(",", ":"))))
    db.session.commit()

    with pytest.raises(KeptFiguresDiffer):
        caseload_service.caseload(clinician, clock.now, check_kept=True)


# --- a reader racing a writer -------------------------------------------------------------

def test_figures_computed_before_a_write_are_not_kept(app, team, clock):
    """The reader read generation g; a write commits before it keeps: the row stays stale."""
    from models import User

    clinician = db.session.get(User, team["clinician"].id)
    limits = thresholds(clinician.organization)
    patients = caseload_service._caseload_patients(
        clinician.organization_id, clinician.id, clock.now, limits, None, None)
    assert [patient.figures for patient in patients] == [None]

    # The write lands from another connection between the reader's read and its keep.
    other = create_engine(db.engine.url)
    try:
        with other.begin() as connection:
            connection.execute(insert(Checkin.__table__).values(
                patient_id=team["patient"].id, day=TODAY, craving=9, mood=2, sleep_hours=4.0,
                used_substance=True, substances=[], coping_skills=[], custom_coping_skills=[], triggers=[],
                late=False, version=1, created_at=clock.now, updated_at=clock.now))
    finally:
        other.dispose()
    caseload_service._recompute(patients, clock.now, limits)
    db.session.commit()

    assert kept(team["patient"].id).figures is None


def test_a_reader_never_waits_for_a_writer_holding_the_row(app, client, team, database_url, clock):
    """On PostgreSQL a writer's open transaction locks the row; the view answers and keeps nothing."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks: SQLite serialises writers instead")
    writer = create_engine(database_url)
    connection = writer.connect()
    transaction = connection.begin()
    try:
        connection.execute(insert(Checkin.__table__).values(
            patient_id=team["patient"].id, day=TODAY, craving=9, mood=2, sleep_hours=4.0,
            used_substance=True, substances=[], coping_skills=[], custom_coping_skills=[], triggers=[],
            late=False, version=1, created_at=clock.now, updated_at=clock.now))
        answered = []
        reader = threading.Thread(target=lambda: answered.append(
            client.get("/api/v1/caseload", headers=team["headers"]).status_code))
        reader.start()
        reader.join(timeout=20)
        assert answered == [200], "the caseload waited for the writer's lock"
        transaction.rollback()
    finally:
        connection.close()
        writer.dispose()
    assert kept(team["patient"].id).figures is None


# --- the page as written -------------------------------------------------------------------

def test_the_page_is_what_the_schema_would_write(client, make, team, clock):
    patient = team["patient"]
    _one_of_each(patient, team["clinician"], clock.now)
    make.patient(team["clinician"], name="Cy")  # nothing recorded: every figure empty
    assessment_response(patient, "gad7", questionnaire_answers("gad7", default=2), clock.now, TODAY)

    for _ in range(2):  # computed, then as kept
        page = view(client, team["headers"], sort="name")

        from models import User

        clinician = db.session.get(User, team["clinician"].id)
        limits = thresholds(clinician.organization)
        patients = caseload_service._caseload_patients(
            clinician.organization_id, clinician.id, clock.now, limits, None, None)
        figures = caseload_figures(caseload_service._with_enrolment(patients), clock.now, limits)
        rows = sorted(patients, key=lambda p: p.display_name)
        expected = CaseloadPageSchema().dump({"items": [
            {"patient": {"id": p.user_id, "display_name": p.display_name}, "level_of_care": p.level_of_care,
             "program": p.program, **figures[p.user_id][0]} for p in rows
        ], "total": 2, "page": 1, "page_size": 50})
        assert page == expected


def test_the_live_part_of_a_row_is_written_byte_for_byte_as_json_dumps_did():
    """Clients and caches saw json.dumps' bytes: its separators, and names escaped to ASCII."""
    from api.resources.dashboards import caseload_page_json
    from services.caseload import CaseloadEntry

    figures = '{"today":"2026-11-23","risk":{"level":"low","reasons":[]}}'
    rows = [CaseloadEntry({"id": 7, "display_name": 'Zoë "Z" O\'Brien\u2028'}, "iop",
                          {"id": 3, "name": "Évening\tIOP"}, figures),
            CaseloadEntry({"id": 8, "display_name": "Cy"}, "outpatient", None, figures)]

    page = caseload_page_json(rows, 12, {"page": 2, "page_size": 2})

    items = ",".join(
        json.dumps({"patient": row.patient, "level_of_care": row.level_of_care, "program": row.program})[:-1]
        + "," + row.figures[1:] for row in rows)
    assert page == f'{{"items":[{items}],"total":12,"page":2,"page_size":2}}'
    assert caseload_page_json([], 0, {"page": 1, "page_size": 50}) == '{"items":[],"total":0,"page":1,"page_size":50}'
