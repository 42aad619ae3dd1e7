"""The urgent notice: owed in the alert's own transaction, sent once after the commit, off the request.

A mail server that is down or hangs never holds a check-in and never loses
the notice: it is retried with backoff and, past its retry period, shown
to admins as failed.
"""
import socket
import threading
import time
from datetime import date

import pytest
from sqlalchemy import select

from models import Alert, Delivery, db
from services.alert_inbox import acknowledge_alert, resolve_alert
from services.alerts import alerts_after_assessment, raise_alert
from services.checkin_alerts import alerts_after_checkin
from services.ledger import TIMING, URGENT_NOTICE
from services.outbox import Sender, send_due
from tests.factories import assessment_response, checkin_body, questionnaire_answers
from tests.jobs.support import MailServer, free_port, ledger

TODAY = date(2026, 11, 23)


@pytest.fixture
def care_team(make):
    """A patient with two active clinicians on the care team, one disabled, and staff off it."""
    first = make.clinician(name="Dr First")
    patient = make.patient(first, name="Jordan Example")
    second = make.clinician(patient.organization, name="Dr Second")
    disabled = make.clinician(patient.organization, name="Dr Gone")
    make.add_to_care_team(patient, second)
    make.add_to_care_team(patient, disabled)
    disabled.is_active = False
    make.clinician(patient.organization)  # not on the care team
    make.admin(patient.organization)
    db.session.commit()
    return {"patient": patient, "clinicians": [first, second], "disabled": disabled}


def notices():
    return [(row.recipient_id, row.period, row.status) for row in ledger(URGENT_NOTICE)]


# --- owed in the same transaction -------------------------------------------------------------

def test_an_urgent_alert_owes_each_active_care_team_clinician_one_notice_in_its_own_transaction(
        care_team, clock, sent_mail, outbox_wakeups):
    patient = care_team["patient"]

    alert = raise_alert(patient, "self_harm", "urgent", "Self-harm thoughts reported", {}, TODAY, clock.now)
    owed = db.session.scalars(select(Delivery.recipient_id).where(Delivery.kind == URGENT_NOTICE)).all()
    assert sorted(owed) == sorted(c.id for c in care_team["clinicians"])
    assert outbox_wakeups == []  # nothing is woken before the commit
    db.session.commit()

    assert len(outbox_wakeups) == 1
    assert sorted(m.to for m in sent_mail) == sorted(c.email for c in care_team["clinicians"])
    assert {status for *_, status in notices()} == {"sent"}
    assert {period for _, period, _ in notices()} == {f"a{alert.id}.1"}


def test_an_urgent_alert_rolled_back_owes_nothing(care_team, clock, sent_mail, count):
    raise_alert(care_team["patient"], "self_harm", "urgent", "s", {}, TODAY, clock.now)
    db.session.rollback()
    db.session.commit()

    assert sent_mail == []
    assert count(Alert) == 0 and notices() == []


def test_the_notice_carries_no_name_rule_score_or_note(make, care_team, clock, sent_mail, app):
    patient = care_team["patient"]
    app.config["PUBLIC_BASE_URL"] = "https://waypoint.example.org/"
    checkin = make.checkin(patient, TODAY, self_harm_thoughts=True, craving=9, note="my secret words")
    alerts_after_checkin(patient, checkin, clock.now)
    response = assessment_response(patient, "phq9", questionnaire_answers("phq9", {"9": 3, "1": 2}),
                                   clock.now, TODAY)
    alerts_after_assessment(patient, response, clock.now)
    db.session.commit()

    delivered = list(sent_mail)
    assert len(delivered) == 4  # two urgent alerts, two clinicians
    for notice in delivered:
        assert notice.subject == "Waypoint: a patient on your care team needs attention"
        assert notice.text.startswith("A patient on your care team needs attention.")
        assert "Open Waypoint: https://waypoint.example.org/alerts" in notice.text
        assert 'href="https://waypoint.example.org/alerts"' in notice.html
        assert "List-Unsubscribe" not in notice.message  # a safety notice cannot be turned off by a link
        words = (notice.subject + " " + notice.text + " " + notice.html).lower()
        for detail in ("jordan", "example@", "self", "harm", "phq", "item", "suicid", "secret", "craving",
                       "urgent", "9", "3", "2026"):
            assert detail not in words.replace("https://waypoint.example.org/alerts", ""), detail


def test_a_repeat_mails_again_only_once_someone_has_acknowledged_the_alert(care_team, clock, sent_mail):
    patient, clinician = care_team["patient"], care_team["clinicians"][0]
    alert = raise_alert(patient, "self_harm", "urgent", "s", {}, TODAY, clock.now)
    db.session.commit()
    raise_alert(patient, "self_harm", "urgent", "s", {}, TODAY, clock.now)
    db.session.commit()
    assert len(sent_mail) == 2  # nobody has looked yet: they were just told

    acknowledge_alert(clinician, alert.id, None, clock.now)
    raise_alert(patient, "self_harm", "urgent", "s", {}, TODAY, clock.now)
    db.session.commit()
    assert len(sent_mail) == 4
    assert sorted({period for _, period, _ in notices()}) == [f"a{alert.id}.1", f"a{alert.id}.3"]


def test_an_alert_that_becomes_urgent_mails_and_other_severities_do_not(care_team, clock, sent_mail):
    patient = care_team["patient"]
    raise_alert(patient, "substance_use", "high", "s", {}, TODAY, clock.now)
    raise_alert(patient, "short_sleep", "medium", "s", {}, TODAY, clock.now)
    db.session.commit()
    assert sent_mail == []

    raise_alert(patient, "substance_use", "urgent", "s", {}, TODAY, clock.now)
    db.session.commit()
    assert len(sent_mail) == 2


def test_a_notice_still_owed_when_its_clinician_left_or_its_alert_was_resolved_is_skipped(
        care_team, clock, sent_mail):
    patient, (first, second) = care_team["patient"], care_team["clinicians"]
    alert = raise_alert(patient, "self_harm", "urgent", "s", {}, TODAY, clock.now)
    db.session.commit()
    second.is_active = False
    db.session.commit()
    assert [m.to for m in sent_mail] == [first.email]

    again = raise_alert(patient, "phq9_item9", "urgent", "s", {}, TODAY, clock.now)
    db.session.commit()
    resolve_alert(first, again.id, "Seen in session", clock.now)
    db.session.commit()
    assert len(sent_mail) == 1
    assert [(row.status, row.last_error) for row in ledger(URGENT_NOTICE)][-1] == (
        "skipped", "alert resolved before the notice could go")
    assert alert.id != again.id


# --- the mail server down or hanging ------------------------------------------------------------

def test_a_notice_owed_while_the_mail_server_is_down_goes_once_it_is_back_then_never_again(
        care_team, clock, stopped_smtp_server):
    raise_alert(care_team["patient"], "self_harm", "urgent", "s", {}, TODAY, clock.now)
    db.session.commit()

    send_due()
    waiting = ledger(URGENT_NOTICE)
    assert {row.status for row in waiting} == {"retry"}
    assert all(row.next_attempt_at == clock.now + TIMING[URGENT_NOTICE].retry_base for row in waiting)

    stopped_smtp_server.start()
    send_due()
    assert {row.status for row in ledger(URGENT_NOTICE)} == {"retry"}  # not due yet: backoff holds
    clock.advance(seconds=15)
    send_due()
    send_due()
    clock.advance(hours=1)
    send_due()

    assert {row.status for row in ledger(URGENT_NOTICE)} == {"sent"}
    assert sorted(m["To"] for m in stopped_smtp_server.messages) == sorted(
        c.email for c in care_team["clinicians"])


def test_a_notice_the_mail_server_never_takes_fails_for_good_and_admins_see_it(
        care_team, clock, stopped_smtp_server, client, make):
    raise_alert(care_team["patient"], "self_harm", "urgent", "s", {}, TODAY, clock.now)
    db.session.commit()
    for _ in range(40):
        send_due()
        clock.advance(minutes=5)
    clock.advance(days=3)
    send_due()

    assert {row.status for row in ledger(URGENT_NOTICE)} == {"failed"}
    admin = make.admin(care_team["patient"].organization)
    failed = client.get("/api/v1/deliveries?status=failed&kind=urgent_notice", headers=make.headers(admin))
    assert failed.status_code == 200
    assert sorted(item["recipient"]["email"] for item in failed.json["items"]) == sorted(
        c.email for c in care_team["clinicians"])
    assert all(item["last_error"].startswith("gave up after") for item in failed.json["items"])


class HungMailServer:
    """A mail server that accepts the connection and then never says a word."""

    def __init__(self):
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.connections = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def sender(app):
    """This process's real sender thread, as a web worker runs it."""
    from services import outbox

    thread = Sender(app)
    previous = outbox.set_waker(lambda _app: thread.wake())
    thread.start()
    yield thread
    outbox.set_waker(previous)
    thread.stop(timeout=30)


def test_a_self_harm_check_in_answers_at_once_while_the_mail_server_hangs_and_the_notice_follows(
        app, client, make, clock, real_smtp, sender):
    hung = HungMailServer()
    app.config["SMTP_URL"] = hung.url
    clinician = make.clinician()
    patient, other = make.patient(clinician), make.patient(clinician)
    db.session.commit()
    try:
        started = time.monotonic()
        crisis = client.put("/api/v1/me/checkins/2026-11-23", headers=make.headers(patient),
                            json=checkin_body(self_harm_thoughts=True))
        crisis_seconds = time.monotonic() - started
        started = time.monotonic()
        ordinary = client.put("/api/v1/me/checkins/2026-11-23", headers=make.headers(other), json=checkin_body())
        ordinary_seconds = time.monotonic() - started

        assert crisis.status_code == 201 and crisis.json["crisis_resources"]["lifeline"]["call"] == "988"
        assert ordinary.status_code == 201
        # The hung server holds a connection for SMTP_TIMEOUT_SECONDS (10 s); no request waits on it.
        assert crisis_seconds < 5 and ordinary_seconds < 5, (crisis_seconds, ordinary_seconds)
        _wait_for(lambda: [r.status for r in ledger(URGENT_NOTICE)] == ["retry"], seconds=30)
    finally:
        hung.close()

    server = MailServer()
    server.start()
    try:
        app.config["SMTP_URL"] = server.url
        clock.advance(seconds=20)
        sender.wake()
        _wait_for(lambda: [r.status for r in ledger(URGENT_NOTICE)] == ["sent"], seconds=30)
        assert [m["To"] for m in server.messages] == [clinician.email]
    finally:
        server.stop()


def test_the_sender_thread_sends_what_a_commit_owed_without_being_asked_twice(
        app, care_team, clock, sender, sent_mail):
    raise_alert(care_team["patient"], "self_harm", "urgent", "s", {}, TODAY, clock.now)
    db.session.commit()

    _wait_for(lambda: {r.status for r in ledger(URGENT_NOTICE)} == {"sent"}, seconds=30)
    assert len(list((sent_mail.folder).glob("*.eml"))) == 2


def _wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.rollback()
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_notice_a_killed_worker_had_claimed_goes_out_once_its_short_lease_ends(care_team, clock, sent_mail):
    from services.ledger import claim

    raise_alert(care_team["patient"], "self_harm", "urgent", "s", {}, TODAY, clock.now)
    db.session.commit()
    claim(URGENT_NOTICE, "killed-host:1")
    db.session.commit()

    clock.advance(seconds=60)
    assert sent_mail == []  # still the dead worker's
    clock.advance(seconds=61)
    assert len(sent_mail) == 2
    assert {row.status for row in ledger(URGENT_NOTICE)} == {"sent"}
