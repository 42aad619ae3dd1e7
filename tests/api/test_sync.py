"""POST /me/checkins/sync: an offline queue of days, each with its own result."""
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from models import Alert, Checkin, CheckinRevision, db
from tests.factories import checkin_body, problem
from tests.queries import count_queries

SYNC = "/api/v1/me/checkins/sync"


def entry(day: str, **fields) -> dict:
    return {"date": day, **checkin_body(**fields)}


def outcomes(response) -> list[tuple]:
    return [(r["date"], r["outcome"], r["status"]) for r in response.json["results"]]


def stored() -> dict[str, tuple[int, int]]:
    return {c.day.isoformat(): (c.version, c.craving) for c in db.session.scalars(
        select(Checkin).execution_options(populate_existing=True))}


def test_a_week_offline_is_written_in_one_request(client, auth, count):
    queue = [entry((date(2026, 11, 17) + timedelta(days=i)).isoformat(), craving=i) for i in range(7)]

    response = client.post(SYNC, headers=auth, json={"checkins": queue})

    assert response.status_code == 200, response.json
    assert [(o, s) for _, o, s in outcomes(response)] == [("created", 201)] * 7
    assert [r["checkin"]["late"] for r in response.json["results"]] == [True] * 6 + [False]
    assert [r["checkin"]["version"] for r in response.json["results"]] == [1] * 7
    assert count(Checkin) == 7 and count(CheckinRevision) == 7


def test_each_day_of_a_mixed_queue_gets_its_own_result_in_order(client, make, patient, auth, clock):
    make.checkin(patient, date(2026, 11, 20), craving=1)   # unchanged below
    make.checkin(patient, date(2026, 11, 21), craving=2)   # edited with its version
    make.checkin(patient, date(2026, 11, 22), craving=3)   # edited from a stale copy
    make.checkin(patient, date(2026, 11, 19), craving=4)   # edited without a version

    response = client.post(SYNC, headers=auth, json={"checkins": [
        entry("2026-11-23", craving=5),
        entry("2026-11-20", craving=1),
        {**entry("2026-11-21", craving=6), "base_version": 1},
        {**entry("2026-11-22", craving=7), "base_version": 2},
        entry("2026-11-19", craving=8),
        entry("2026-11-24", craving=9),
        entry("2026-10-01", craving=9),
        {**entry("2026-11-18", craving=9), "base_version": 1},
    ]})

    assert response.status_code == 200
    assert outcomes(response) == [
        ("2026-11-23", "created", 201),
        ("2026-11-20", "unchanged", 200),
        ("2026-11-21", "updated", 200),
        ("2026-11-22", "refused", 412),
        ("2026-11-19", "refused", 428),
        ("2026-11-24", "refused", 422),
        ("2026-10-01", "refused", 422),
        ("2026-11-18", "refused", 412),  # an edit of a day this server never had
    ]
    results = response.json["results"]
    assert results[2]["checkin"]["version"] == 2
    for refused in results[3:]:
        assert refused["problem"]["status"] == refused["status"]
        assert refused["problem"]["detail"]
        assert "checkin" not in refused or refused["checkin"] is None
    assert "date" in results[5]["problem"]["errors"]
    assert stored() == {"2026-11-19": (1, 4), "2026-11-20": (1, 1), "2026-11-21": (2, 6),
                        "2026-11-22": (1, 3), "2026-11-23": (1, 5)}


def test_a_retried_batch_changes_nothing(client, auth, count):
    queue = [entry(f"2026-11-{d}", craving=d - 15) for d in range(16, 24)]
    first = client.post(SYNC, headers=auth, json={"checkins": queue})
    assert {o for _, o, _ in outcomes(first)} == {"created"}

    retry = client.post(SYNC, headers=auth, json={"checkins": queue})

    assert retry.status_code == 200
    assert outcomes(retry) == [(e["date"], "unchanged", 200) for e in queue]
    assert [r["checkin"]["version"] for r in retry.json["results"]] == [1] * 8
    assert count(Checkin) == 8 and count(CheckinRevision) == 8


def test_a_retried_batch_of_edits_is_not_applied_twice(client, make, patient, auth, count):
    make.checkin(patient, date(2026, 11, 22), craving=3)
    queue = [{**entry("2026-11-22", craving=4), "base_version": 1}]
    assert outcomes(client.post(SYNC, headers=auth, json={"checkins": queue}))[0][1] == "updated"

    retry = client.post(SYNC, headers=auth, json={"checkins": queue})

    # The day already says what the edit says: nothing to do, and no 412 to alarm the phone.
    assert outcomes(retry) == [("2026-11-22", "unchanged", 200)]
    assert stored() == {"2026-11-22": (2, 4)}
    assert count(CheckinRevision) == 2


@pytest.mark.parametrize("bad_entry, field", [
    ({"date": "2026-11-21", "craving": 11, "mood": 5, "sleep_hours": 7, "used_substance": False}, "craving"),
    ({"date": "2026-11-21", "craving": 1, "mood": 5, "sleep_hours": 7.3, "used_substance": False}, "sleep_hours"),
    ({"date": "2026-11-21", "craving": 1, "mood": 5, "sleep_hours": 7, "used_substance": "yes"}, "used_substance"),
    ({"date": "2026-11-21", "craving": 1, "mood": 5, "sleep_hours": 7, "used_substance": False,
      "mood_ring": "blue"}, "mood_ring"),
    ({"date": "2026-11-21", "craving": 1}, "mood"),
    ({"date": "2026-13-01", **checkin_body()}, "date"),
    ({"date": "20261121", **checkin_body()}, "date"),
    ({**checkin_body()}, "date"),
    ({"date": 20261121, **checkin_body()}, "date"),
    ({"date": "2026-11-21", **checkin_body(), "base_version": 0}, "base_version"),
    ({"date": "2026-11-21", **checkin_body(), "base_version": "1"}, "base_version"),
])
def test_one_malformed_entry_is_refused_without_blocking_the_others(client, auth, count, bad_entry, field):
    response = client.post(SYNC, headers=auth, json={"checkins": [
        entry("2026-11-20"), bad_entry, entry("2026-11-22"),
    ]})

    assert response.status_code == 200, response.json
    results = response.json["results"]
    assert [r["outcome"] for r in results] == ["created", "refused", "created"]
    assert results[1]["status"] == 422
    assert results[1]["date"] == (bad_entry.get("date") if isinstance(bad_entry.get("date"), str) else None)
    assert field in results[1]["problem"]["errors"]
    assert set(stored()) == {"2026-11-20", "2026-11-22"}
    assert count(CheckinRevision) == 2


def test_a_malformed_entry_reports_all_its_problems(client, auth):
    response = client.post(SYNC, headers=auth, json={"checkins": [
        {"date": "2026-11-21", "craving": -1, "mood": 11, "sleep_hours": 25, "used_substance": "no"},
    ]})

    assert set(response.json["results"][0]["problem"]["errors"]) == {
        "craving", "mood", "sleep_hours", "used_substance"}


def test_the_same_day_twice_in_one_queue_is_one_check_in(client, auth, count):
    response = client.post(SYNC, headers=auth, json={"checkins": [
        entry("2026-11-21", craving=2), entry("2026-11-21", craving=2), entry("2026-11-21", craving=5),
    ]})

    assert [(o, s) for _, o, s in outcomes(response)] == [("created", 201), ("unchanged", 200), ("refused", 428)]
    assert stored() == {"2026-11-21": (1, 2)}
    assert count(CheckinRevision) == 1


def test_a_later_edit_in_the_same_queue_can_build_on_an_earlier_one(client, auth, count):
    response = client.post(SYNC, headers=auth, json={"checkins": [
        entry("2026-11-21", craving=2), {**entry("2026-11-21", craving=5), "base_version": 1},
    ]})

    assert [o for _, o, _ in outcomes(response)] == ["created", "updated"]
    assert stored() == {"2026-11-21": (2, 5)}
    assert count(CheckinRevision) == 2


def test_a_locked_day_in_the_queue_is_refused_with_409(client, make, patient, auth, clock, count):
    make.checkin(patient, date(2026, 11, 19), craving=1)
    clock.advance(hours=72)

    response = client.post(SYNC, headers=auth, json={"checkins": [
        {**entry("2026-11-19", craving=6), "base_version": 1}, entry("2026-11-25"),
    ]})

    assert outcomes(response) == [("2026-11-19", "refused", 409), ("2026-11-25", "created", 201)]
    assert "can no longer be changed" in response.json["results"][0]["problem"]["detail"]
    assert stored()["2026-11-19"] == (1, 1)


@pytest.mark.parametrize("size, status", [(100, 200), (101, 422)])
def test_a_queue_holds_at_most_100_days(client, auth, count, size, status):
    start = date(2026, 11, 23) - timedelta(days=size - 1)
    queue = [entry((start + timedelta(days=i)).isoformat()) for i in range(size)]

    response = client.post(SYNC, headers=auth, json={"checkins": queue})

    if status == 422:
        assert "checkins" in problem(response, 422)["errors"]
        assert count(Checkin) == 0
    else:
        # Days beyond the late-entry limit are refused one by one; the rest are written.
        assert response.status_code == 200
        assert count(Checkin) == 31


@pytest.mark.parametrize("body", [
    {}, {"checkins": []}, {"checkins": "2026-11-21"}, {"checkins": [entry("2026-11-21")], "extra": 1},
    {"checkins": ["2026-11-21"]}, [entry("2026-11-21")],
])
def test_a_malformed_request_is_refused_whole(client, auth, count, body):
    problem(client.post(SYNC, headers=auth, json=body), 422)
    assert count(Checkin) == 0


def test_only_patients_sync(client, make, count):
    problem(client.post(SYNC, headers=make.headers(make.clinician()),
                        json={"checkins": [entry("2026-11-21")]}), 403)
    assert count(Checkin) == 0


# --- alerts, and what a queue costs ----------------------------------------------

def _alerts_of(patient) -> list[tuple]:
    return sorted(
        (alert.rule, alert.severity.value, alert.status.value, alert.trigger_count, alert.summary,
         alert.local_day, sorted((k, str(v)) for k, v in alert.evidence.items() if k != "source"))
        for alert in db.session.scalars(select(Alert).where(Alert.patient_id == patient.id))
    )


def _fortnight(today: date) -> list[dict]:
    """Two weeks offline going badly: falling mood, short nights, use, craving spikes, self-harm."""
    queue = []
    for back in range(13, -1, -1):
        day = today - timedelta(days=back)
        queue.append(entry(day.isoformat(), mood=min(10, back), sleep_hours=3.0 if back < 4 else 7.0,
                           craving=9 if back in (1, 2, 9) else 3, used_substance=back == 3,
                           self_harm_thoughts=back in (10, 1)))
    queue.append(queue.pop(4))  # one day sent out of order, last
    return queue


def test_a_queue_raises_the_alerts_its_days_would_raise_one_put_at_a_time(client, make, sent_mail):
    today = date(2026, 11, 23)
    synced, put_one_by_one = make.patient(), make.patient()
    for patient in (synced, put_one_by_one):
        for back in range(14, 40):
            make.checkin(patient, today - timedelta(days=back), craving=2, mood=7)

    response = client.post(SYNC, headers=make.headers(synced), json={"checkins": _fortnight(today)})
    assert [o for _, o, _ in outcomes(response)] == ["created"] * 14
    notices_after_sync = len(sent_mail)
    auth = make.headers(put_one_by_one)
    for day in _fortnight(today):
        written = client.put(f"/api/v1/me/checkins/{day.pop('date')}", headers=auth, json=day)
        assert written.status_code == 201

    assert {rule for rule, *_ in _alerts_of(synced)} == {
        "self_harm", "substance_use", "craving_spike", "mood_worsening", "short_sleep"}
    assert _alerts_of(synced) == _alerts_of(put_one_by_one)
    assert notices_after_sync == len(sent_mail) - notices_after_sync > 0


def test_a_queue_costs_the_same_statements_however_many_days_it_holds(client, make):
    counts = []
    for days in (2, 30):
        queue = [entry((date(2026, 11, 23) - timedelta(days=back)).isoformat()) for back in range(days)]
        auth = make.headers(make.patient())
        with count_queries() as statements:
            response = client.post(SYNC, headers=auth, json={"checkins": queue})
        assert [o for _, o, _ in outcomes(response)] == ["created"] * days
        counts.append(statements())

    assert counts[0] == counts[1]
