"""A written day is stored exactly as written: the new day's row and first revision, on every database.

The new days' INSERTs run as the driver's SQL (models.driver_sql),
so the conversions SQLAlchemy made (the day, the booleans, the lists, the UTC
instants) are made there: read back through the ORM, every value is what
the patient sent and what the answer showed.
"""
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from models import Checkin, CheckinRevision, db

TODAY = date(2026, 11, 23)  # the frozen clock's day in New York
EVERY_FIELD = {
    "craving": 9, "mood": 2, "sleep_hours": 3.25, "sleep_quality": 1, "used_substance": True,
    "substances": ["opioids", "alcohol"], "coping_skills": ["urge_surfing", "journaling"],
    "custom_coping_skills": ["called my sister"], "triggers": ["stress", "loneliness"],
    "medication_taken": False, "self_harm_thoughts": True, "note": "a hard day",
}
# As stored: code lists in a stable order.
EVERY_FIELD_STORED = {**EVERY_FIELD, "substances": ["alcohol", "opioids"],
                      "coping_skills": ["journaling", "urge_surfing"], "triggers": ["loneliness", "stress"]}


def _row(day: date) -> Checkin:
    db.session.expire_all()
    return db.session.scalars(select(Checkin).where(Checkin.day == day)).one()


def _revisions(checkin_id: int) -> list[CheckinRevision]:
    return list(db.session.scalars(select(CheckinRevision).where(CheckinRevision.checkin_id == checkin_id)))


def test_a_new_day_is_stored_and_answered_with_every_value_as_written(client, auth, patient, clock):
    response = client.put(f"/api/v1/me/checkins/{TODAY}", headers=auth, json=EVERY_FIELD)

    assert response.status_code == 201, response.json
    checkin = _row(TODAY)
    assert {field: getattr(checkin, field) for field in EVERY_FIELD_STORED} == EVERY_FIELD_STORED
    assert (checkin.patient_id, checkin.day, checkin.version, checkin.late) == (patient.id, TODAY, 1, False)
    now = clock().astimezone(timezone.utc)
    assert checkin.created_at == checkin.updated_at == now
    assert checkin.created_at.tzinfo is not None
    [revision] = _revisions(checkin.id)
    assert (revision.version, revision.content, revision.recorded_by_id) == (1, EVERY_FIELD_STORED, patient.id)
    assert revision.recorded_at == now
    # Stored in the form SQLAlchemy compares with (on SQLite, text): found by the instant and the day.
    assert db.session.scalars(select(Checkin.id).where(
        Checkin.created_at == now, Checkin.updated_at == now, Checkin.day == TODAY,
        Checkin.used_substance.is_(True), Checkin.medication_taken.is_(False))).all() == [checkin.id]
    assert db.session.scalars(select(CheckinRevision.id).where(
        CheckinRevision.recorded_at == now)).all() == [revision.id]
    answered = response.json
    assert {field: answered[field] for field in EVERY_FIELD_STORED} == EVERY_FIELD_STORED
    assert (answered["date"], answered["version"], answered["late"]) == (TODAY.isoformat(), 1, False)
    assert datetime.fromisoformat(answered["created_at"]) == now


def test_a_sync_creates_each_new_day_under_its_own_day_and_leaves_a_taken_day_alone(client, auth):
    days = [TODAY - timedelta(days=offset) for offset in range(3)]
    taken = client.put(f"/api/v1/me/checkins/{days[1]}", headers=auth,
                       json={**EVERY_FIELD, "self_harm_thoughts": False, "craving": 1})
    assert taken.status_code == 201

    queue = [{**EVERY_FIELD, "self_harm_thoughts": False, "craving": number + 4, "date": day.isoformat()}
             for number, day in enumerate(days)]
    response = client.post("/api/v1/me/checkins/sync", headers=auth, json={"checkins": queue})

    assert response.status_code == 200, response.json
    outcomes = [(result["date"], result["outcome"]) for result in response.json["results"]]
    assert outcomes == [(days[0].isoformat(), "created"), (days[1].isoformat(), "refused"),
                        (days[2].isoformat(), "created")]
    assert [_row(day).craving for day in days] == [4, 1, 6]
    assert [_row(day).late for day in days] == [False, True, True]
    for day, result in zip(days, response.json["results"], strict=True):
        if result["outcome"] == "created":
            assert result["checkin"]["craving"] == _row(day).craving
            assert [revision.content["craving"] for revision in _revisions(_row(day).id)] == [_row(day).craving]


def test_days_written_together_each_get_one_first_revision_and_a_day_taken_meanwhile_gets_none(make, patient, clock):
    # What a sync does when another request wrote one of its days between its read and its insert:
    # the INSERT leaves the taken day out, and no revision may be written for a row it did not write.
    from services.checkins import Desk, insert_days

    taken = make.checkin(patient, TODAY - timedelta(days=1), craving=1)
    days = [TODAY - timedelta(days=offset) for offset in range(3)]
    contents = {day: {**EVERY_FIELD_STORED, "craving": number + 4} for number, day in enumerate(days)}

    created = insert_days(Desk.of(patient, clock()), list(contents.items()))
    db.session.commit()

    assert sorted(created) == [days[2], days[0]]
    for day in (days[0], days[2]):
        checkin = _row(day)
        assert created[day].id == checkin.id
        [revision] = _revisions(checkin.id)
        assert (revision.version, revision.content, revision.recorded_by_id) == (1, contents[day], patient.id)
        assert revision.recorded_at == clock().astimezone(timezone.utc)
    assert _row(days[1]).craving == 1
    assert [revision.content["craving"] for revision in _revisions(taken.id)] == [1]


def test_an_edit_is_stored_with_its_revision_as_written(client, auth, patient, clock):
    first = client.put(f"/api/v1/me/checkins/{TODAY}", headers=auth, json={**EVERY_FIELD, "craving": 2})
    assert first.status_code == 201
    clock.advance(minutes=30)

    response = client.put(f"/api/v1/me/checkins/{TODAY}", headers={**auth, "If-Match": '"1"'}, json=EVERY_FIELD)

    assert response.status_code == 200, response.json
    checkin = _row(TODAY)
    now = clock().astimezone(timezone.utc)
    assert {field: getattr(checkin, field) for field in EVERY_FIELD_STORED} == EVERY_FIELD_STORED
    assert (checkin.version, checkin.updated_at) == (2, now)
    assert checkin.created_at == now - timedelta(minutes=30)
    revisions = sorted(_revisions(checkin.id), key=lambda revision: revision.version)
    assert [(revision.version, revision.content["craving"]) for revision in revisions] == [(1, 2), (2, 9)]
    assert (revisions[1].content, revisions[1].recorded_by_id, revisions[1].recorded_at) == (
        EVERY_FIELD_STORED, patient.id, now)
    assert {field: response.json[field] for field in EVERY_FIELD_STORED} == EVERY_FIELD_STORED
