"""Outgoing mail: queued in the unit of work, sent only after the commit, and the urgent notice."""
import email
import email.policy
import logging
import socket
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Alert, db
from services import mail
from services.alerts import acknowledge_alert, raise_alert
from services.mail import OutgoingEmail, queue_email, queued_emails

TODAY = date(2026, 11, 23)


def message(to="someone@example.org", subject="Hello", text="Plain words", html=None) -> OutgoingEmail:
    return OutgoingEmail(to, subject, text, html)


# --- the unit of work ---------------------------------------------------------------------

def test_a_queued_message_goes_out_only_when_the_transaction_commits(app, sent_mail):
    queue_email("someone@example.org", "Hello", "Plain words")
    db.session.flush()

    assert sent_mail == []
    db.session.commit()
    assert sent_mail == [message()]

    db.session.commit()
    assert len(sent_mail) == 1  # sent once, not on every later commit


def test_a_rollback_discards_the_queue(app, sent_mail):
    queue_email("someone@example.org", "Hello", "Plain words")
    db.session.rollback()
    db.session.commit()

    assert sent_mail == []
    assert queued_emails() == []


def test_closing_the_session_without_a_commit_discards_the_queue(app, sent_mail):
    queue_email("someone@example.org", "Hello", "Plain words")
    db.session.execute(select(1))
    db.session.remove()
    db.session.commit()

    assert sent_mail == []


def test_a_savepoint_sends_nothing_itself_and_its_rollback_drops_only_what_it_queued(app, sent_mail):
    queue_email("before@example.org", "Hello", "Plain words")
    kept = db.session.begin_nested()
    queue_email("kept@example.org", "Hello", "Plain words")
    kept.commit()
    dropped = db.session.begin_nested()
    queue_email("dropped@example.org", "Hello", "Plain words")
    inner = db.session.begin_nested()
    queue_email("dropped-inner@example.org", "Hello", "Plain words")
    inner.commit()
    dropped.rollback()

    assert sent_mail == []
    db.session.commit()
    assert [m.to for m in sent_mail] == ["before@example.org", "kept@example.org"]


def test_a_failing_sender_never_fails_the_commit_and_logs_no_address_or_body(app, caplog):
    def broken(messages):
        raise ConnectionError("mail.example.org refused someone@example.org")

    previous = mail.set_sender(broken)
    try:
        queue_email("someone@example.org", "Private subject", "Private body")
        with caplog.at_level(logging.ERROR, logger="waypoint.mail"):
            db.session.commit()
    finally:
        mail.set_sender(previous)

    assert "1 message(s) not sent (ConnectionError)" in caplog.text
    for secret in ("someone@example.org", "Private", "mail.example.org"):
        assert secret not in caplog.text


# --- the urgent notice ------------------------------------------------------------------------

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


def test_an_urgent_alert_mails_each_active_care_team_clinician_once_after_the_commit(care_team, clock, sent_mail):
    patient = care_team["patient"]

    raise_alert(patient, "self_harm", "urgent", "Self-harm thoughts reported in the check-in for 2026-11-23",
                {"checkin_day": "2026-11-23"}, TODAY, clock.now)
    assert sent_mail == []
    assert len(queued_emails()) == 2
    db.session.commit()

    assert sorted(m.to for m in sent_mail) == sorted(c.email for c in care_team["clinicians"])


def test_the_notice_carries_no_name_rule_score_or_note(make, care_team, clock, sent_mail, app):
    from services.alerts import alerts_after_assessment, alerts_after_checkin
    from tests.factories import assessment_response, questionnaire_answers

    patient = care_team["patient"]
    app.config["PUBLIC_BASE_URL"] = "https://waypoint.example.org/"
    checkin = make.checkin(patient, TODAY, self_harm_thoughts=True, craving=9, note="my secret words")
    alerts_after_checkin(patient, checkin, clock.now)
    response = assessment_response(patient, "phq9", questionnaire_answers("phq9", {"9": 3, "1": 2}),
                                   clock.now, TODAY)
    alerts_after_assessment(patient, response, clock.now)
    db.session.commit()

    assert len(sent_mail) == 4  # two urgent alerts, two clinicians
    for notice in sent_mail:
        assert notice.subject == "Waypoint: a patient on your care team needs attention"
        assert notice.text.startswith("A patient on your care team needs attention.")
        assert "Open Waypoint: https://waypoint.example.org/alerts" in notice.text
        assert notice.html is None
        words = (notice.subject + " " + notice.text).lower()
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


def test_an_alert_that_becomes_urgent_mails_and_other_severities_do_not(care_team, clock, sent_mail):
    patient = care_team["patient"]
    raise_alert(patient, "substance_use", "high", "s", {}, TODAY, clock.now)
    raise_alert(patient, "short_sleep", "medium", "s", {}, TODAY, clock.now)
    db.session.commit()
    assert sent_mail == []

    raise_alert(patient, "substance_use", "urgent", "s", {}, TODAY, clock.now)
    db.session.commit()
    assert len(sent_mail) == 2


def test_an_urgent_alert_rolled_back_sends_nothing(care_team, clock, sent_mail, count):
    raise_alert(care_team["patient"], "self_harm", "urgent", "s", {}, TODAY, clock.now)
    db.session.rollback()
    db.session.commit()

    assert sent_mail == []
    assert count(Alert) == 0


# --- the senders ----------------------------------------------------------------------------------

def test_without_smtp_the_outbox_folder_gets_one_parseable_eml_file_per_message(app, tmp_path):
    app.config["OUTBOX_DIR"] = str(tmp_path / "mailbox")
    app.config["MAIL_FROM"] = "Waypoint <alerts@waypoint.example.org>"
    queue_email("first@example.org", "Plain", "Only text")
    queue_email("second@example.org", "Both", "The text part", "<p>The <b>HTML</b> part</p>")
    db.session.commit()

    files = sorted((tmp_path / "mailbox").iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]
    parsed = {m["To"]: m for m in (email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
                                   for f in files)}
    plain, both = parsed["first@example.org"], parsed["second@example.org"]
    assert (plain["From"], plain["Subject"], plain.get_content_type()) == (
        "Waypoint <alerts@waypoint.example.org>", "Plain", "text/plain")
    assert plain.get_content().strip() == "Only text"
    assert plain["Message-ID"] and plain["Date"]
    assert both.get_content_type() == "multipart/alternative"
    assert both.get_body(("plain",)).get_content().strip() == "The text part"
    assert both.get_body(("html",)).get_content().strip() == "<p>The <b>HTML</b> part</p>"


def test_the_outbox_folder_defaults_to_the_instance_folder(app, monkeypatch):
    monkeypatch.delenv("OUTBOX_DIR")

    assert mail._outbox_dir() == Path(app.instance_path) / "outbox"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Collector:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def smtp_server(real_smtp):
    from aiosmtpd.controller import Controller

    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, collector
    controller.stop()


def test_with_smtp_url_each_message_goes_to_the_smtp_server(app, smtp_server, tmp_path):
    controller, collector = smtp_server
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{controller.port}"
    app.config["MAIL_FROM"] = "alerts@waypoint.example.org"
    app.config["OUTBOX_DIR"] = str(tmp_path / "unused")
    queue_email("first@example.org", "Plain", "Only text")
    queue_email("second@example.org", "Both", "The text part", "<p>HTML</p>")
    db.session.commit()

    assert [(e.mail_from, e.rcpt_tos) for e in collector.envelopes] == [
        ("alerts@waypoint.example.org", ["first@example.org"]),
        ("alerts@waypoint.example.org", ["second@example.org"]),
    ]
    second = email.message_from_bytes(collector.envelopes[1].content, policy=email.policy.default)
    assert second["Subject"] == "Both"
    assert second.get_body(("html",)).get_content().strip() == "<p>HTML</p>"
    assert not (tmp_path / "unused").exists()


def test_an_smtp_server_that_is_down_is_logged_and_the_commit_stands(app, real_smtp, caplog, make):
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{_free_port()}"
    organization = make.organization()
    queue_email("someone@example.org", "Subject", "Body")
    organization.crisis_phone = "+1 555 0100"
    with caplog.at_level(logging.ERROR, logger="waypoint.mail"):
        db.session.commit()

    assert "not sent (ConnectionRefusedError)" in caplog.text
    assert "someone@example.org" not in caplog.text
    db.session.expire_all()
    assert organization.crisis_phone == "+1 555 0100"


def test_an_smtp_url_of_another_scheme_is_refused_and_logged(app, caplog):
    app.config["SMTP_URL"] = "http://127.0.0.1:25"
    queue_email("someone@example.org", "Subject", "Body")
    with caplog.at_level(logging.ERROR, logger="waypoint.mail"):
        db.session.commit()

    assert "not sent (ValueError)" in caplog.text
