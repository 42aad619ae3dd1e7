"""Three phones of one patient syncing overlapping days at once (PostgreSQL): no deadlock reaches the patient.

Each sync writes check-ins, their revisions and alerts; the caseload triggers
update the patient's one caseload row inside each of those writes. Writers of
one patient that took those locks in different orders deadlocked, and the
loser answered 503 "database not reachable". Every round here starts three
overlapping batches together on real connections and checks that each
answered 200, that none had to be run again after losing a deadlock, and
that the days hold exactly what the answers say.
"""
import logging
from collections import defaultdict
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from models import Alert, AlertStatus, Checkin, CheckinRevision, db
from tests.factories import checkin_body
from tests.races import all_at_once

SYNC = "/api/v1/me/checkins/sync"
ROUNDS = 10
PHONES = 3
FIRST_DAY = date(2026, 11, 10)
# Days already written before the round (version 1): the batches edit them with base_version 1.
WRITTEN_BEFORE = [FIRST_DAY + timedelta(days=n) for n in (0, 2, 4, 6, 8)]

pytestmark = pytest.mark.usefixtures("postgres_only")


@pytest.fixture
def server(app_with_pool):
    """The same app with a pool for every phone's two connections (the request's, the audit's)."""
    return app_with_pool(2 * PHONES)


def batch(phone: int) -> list[dict]:
    """Return the queue of one phone: eight days overlapping its neighbours', in an order of its own.

    High cravings and use on some days raise alerts, so alert rows (and their
    caseload trigger) are written inside the same transactions too.
    """
    days = [FIRST_DAY + timedelta(days=2 * phone + n) for n in range(8)]
    order = [days, list(reversed(days)), days[3:] + days[:3]][phone % 3]
    queue = []
    for day in order:
        entry = {"date": day.isoformat(), **checkin_body(craving=7 + phone, mood=6 - phone,
                                                          used_substance=day.day % 3 == phone,
                                                          note=f"phone {phone}")}
        if day in WRITTEN_BEFORE:
            entry["base_version"] = 1
        queue.append(entry)
    return queue


def sync_all_at_once(server, auth) -> list:
    """Post every phone's batch on its own thread, connection and app context, released together."""
    answers = all_at_once(server, [lambda client, index=index: client.post(SYNC, headers=auth,
                                                                           json={"checkins": batch(index)})
                                   for index in range(PHONES)])
    return [(status, body) for status, body, _headers in answers]


def test_three_overlapping_syncs_of_one_patient_never_fail_and_each_day_holds_what_was_answered(
        server, make, clock, caplog):
    caplog.set_level(logging.WARNING, logger="waypoint.database")
    failed_rounds = []
    for round_ in range(ROUNDS):
        patient = make.patient()
        for day in WRITTEN_BEFORE:
            make.checkin(patient, day, craving=1)
        auth = make.headers(patient)

        answers = sync_all_at_once(server, auth)

        statuses = [status for status, _ in answers]
        if statuses != [200] * PHONES:
            failed_rounds.append((round_, statuses, [body.get("title") for _, body in answers if body]))
            continue
        _assert_days_hold_what_was_answered(patient, [body["results"] for _, body in answers])

    assert not failed_rounds, f"{len(failed_rounds)} of {ROUNDS} rounds failed: {failed_rounds}"
    # They queued behind one another: none deadlocked and had to be run again (api.database).
    assert not [r.getMessage() for r in caplog.records if "lost a lock race" in r.getMessage()]


def _assert_days_hold_what_was_answered(patient, results_by_phone: list[list[dict]]) -> None:
    outcomes = defaultdict(list)
    for phone, results in enumerate(results_by_phone):
        for result in results:
            outcomes[result["date"]].append((phone, result))
    db.session.expire_all()
    stored = {checkin.day.isoformat(): checkin for checkin in db.session.scalars(
        select(Checkin).where(Checkin.patient_id == patient.id))}
    assert set(stored) == set(outcomes)
    for day, answered in outcomes.items():
        kinds = [result["outcome"] for _, result in answered]
        written_before = date.fromisoformat(day) in WRITTEN_BEFORE
        # A new day is created by one phone; the others see it, unchanged or refused (428: no version).
        assert kinds.count("created") == (0 if written_before else 1), (day, kinds)
        # An edit of version 1 goes through once; the others' base_version 1 is stale (412).
        assert kinds.count("updated") == (1 if written_before else 0), (day, kinds)
        assert all(result["status"] in (412, 428) for _, result in answered if result["outcome"] == "refused")
        checkin = stored[day]
        assert checkin.version == 1 + kinds.count("updated")
        winner = next(result for _, result in answered if result["outcome"] in ("created", "updated"))
        assert (checkin.craving, checkin.note, checkin.version) == (
            winner["checkin"]["craving"], winner["checkin"]["note"], winner["checkin"]["version"])
        assert list(db.session.scalars(
            select(CheckinRevision.version).where(CheckinRevision.checkin_id == checkin.id)
            .order_by(CheckinRevision.version))) == list(range(1, checkin.version + 1))
    live = list(db.session.scalars(select(Alert.rule).where(
        Alert.patient_id == patient.id, Alert.status != AlertStatus.resolved)))
    assert len(live) == len(set(live)), live  # one live alert per rule
