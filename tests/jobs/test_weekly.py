"""The weekly jobs against a real SMTP server: each summary once, retried, at the patient's own time."""
from datetime import date, datetime, timedelta, timezone

import pytest

from jobs.weekly import clinician_digests, weekly_summaries
from models import Alert, AlertSeverity, AlertStatus, Delivery, Organization, db
from services.redisclosure import REDISCLOSURE_NOTICE

from .support import ledger, set_preferences

W47 = date(2026, 11, 16)
MONDAY_NOON_NY = "2026-11-23T17:00:00+00:00"  # the clock fixture's default: W47 is owed everywhere


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(("html",)).get_content()


def checkins(make, patient, first: date, count: int, **fields) -> None:
    for offset in range(count):
        make.checkin(patient, first + timedelta(days=offset), **fields)


def test_running_the_weekly_job_twice_sends_each_summary_once(make, enrol, smtp_server, clock):
    detailed = enrol(weekly_summary="detailed", name="Maya Thompson")
    notice = enrol(name="Daniel Nguyen")  # the default: a notice
    enrol(weekly_summary="off")
    checkins(make, detailed, W47 - timedelta(days=7), 14, craving=2, mood=8)

    first = weekly_summaries(clock.now)
    second = weekly_summaries(clock.now)

    assert (first.newly_owed, first.send.sent) == (2, 2)
    assert (second.newly_owed, second.send.sent) == (0, 0)
    assert len(smtp_server.messages) == 2
    rows = ledger()
    assert [(r.recipient_id, r.kind, r.period, r.status, r.attempts) for r in rows] == [
        (detailed.id, "weekly_summary", "2026-W47", "sent", 1),
        (notice.id, "weekly_summary", "2026-W47", "sent", 1),
    ]
    [full] = smtp_server.to(detailed.email)
    assert full["Message-ID"] == rows[0].message_id
    assert full["Subject"] == "Your Waypoint week, 16\u201322 November 2026"
    assert full["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert full["List-Unsubscribe"].startswith("<http") and "/api/v1/unsubscribe/" in full["List-Unsubscribe"]
    assert "7 of 7 days this week" in text_of(full) and "Current streak: 14 days" in text_of(full)
    assert REDISCLOSURE_NOTICE in text_of(full) and "<table" in html_of(full)
    [brief] = smtp_server.to(notice.email)
    assert brief["Subject"] == "Your weekly summary is ready"
    assert "streak" not in text_of(brief).lower() and "/summary?week=2026-W47" in text_of(brief)


def test_a_mail_server_that_is_down_is_retried_and_every_summary_arrives_once(enrol, stopped_smtp_server, clock):
    patients = [enrol(weekly_summary="detailed"), enrol(), enrol(zone="Asia/Kolkata")]

    down = weekly_summaries(clock.now)
    assert down.send.transport_down and down.send.sent == 0 and down.send.retry == 3
    rows = ledger()
    assert {r.status for r in rows} == {"retry"}
    assert all(r.attempts == 1 and r.next_attempt_at == clock.now + timedelta(minutes=1) for r in rows)
    assert rows[0].last_error.startswith("mail server unavailable: ConnectionRefusedError")
    message_ids = [r.message_id for r in rows]

    assert weekly_summaries(clock.now).send.to_dict()["sent"] == 0  # backing off: nothing claimed yet
    stopped_smtp_server.start()
    clock.advance(minutes=1)
    back = weekly_summaries(clock.now)
    weekly_summaries(clock.now)
    clock.advance(hours=3)
    weekly_summaries(clock.now)

    assert (back.newly_owed, back.send.sent) == (0, 3)
    assert sorted(m["To"] for m in stopped_smtp_server.messages) == sorted(p.email for p in patients)
    assert [m["Message-ID"] for m in stopped_smtp_server.messages] == message_ids  # the same id on every attempt
    assert [(r.status, r.attempts, r.last_error) for r in ledger()] == [("sent", 2, None)] * 3


def test_a_refused_recipient_is_a_permanent_failure_and_is_not_retried(enrol, smtp_server, clock, caplog):
    refused, accepted = enrol(), enrol()
    smtp_server.handler.refuse[refused.email] = f"550 5.1.1 <{refused.email}>: No such mailbox"

    report = weekly_summaries(clock.now)
    clock.advance(hours=2)
    weekly_summaries(clock.now)

    assert (report.send.sent, report.send.failed) == (1, 1)
    assert [m["To"] for m in smtp_server.messages] == [accepted.email]
    failed = db.session.get(Delivery, ledger()[0].id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error == f"recipient refused: 550 5.1.1 <{refused.email}>: No such mailbox"
    # The server quoted the address; the ledger (admins only) keeps it, the logs must not.
    assert "failed permanently" in caplog.text and refused.email not in caplog.text


def test_a_temporary_refusal_is_retried_with_growing_backoff_until_accepted(enrol, smtp_server, clock):
    patient = enrol()
    smtp_server.handler.refuse[patient.email] = "451 4.3.0 Try again later"

    weekly_summaries(clock.now)
    [row] = ledger()
    assert (row.status, row.next_attempt_at, row.last_error) == (
        "retry", clock.now + timedelta(minutes=1), "recipient refused: 451 4.3.0 Try again later")
    clock.advance(minutes=1)
    weekly_summaries(clock.now)
    [row] = ledger()
    assert (row.attempts, row.next_attempt_at) == (2, clock.now + timedelta(minutes=2))

    del smtp_server.handler.refuse[patient.email]
    clock.advance(minutes=2)
    weekly_summaries(clock.now)
    assert [(r.status, r.attempts) for r in ledger()] == [("sent", 3)]
    assert len(smtp_server.messages) == 1


def test_retrying_stops_when_the_week_has_gone_by(enrol, stopped_smtp_server, clock):
    enrol()
    weekly_summaries(clock.now)
    clock.advance(days=6, minutes=1)
    weekly_summaries(clock.now)
    [row] = ledger()
    assert row.status == "failed" and row.last_error.startswith("gave up after 2 attempts: mail server unavailable")
    assert stopped_smtp_server.messages == []


def test_a_delivery_claimed_by_a_process_that_died_is_taken_again_after_the_lease(enrol, smtp_server, clock):
    from services.ledger import claim, record_owed
    from services.scheduled_mail import owed_weekly_summaries

    enrol()
    record_owed("weekly_summary", owed_weekly_summaries(clock.now), clock.now)
    [stuck] = claim("weekly_summary", "dead-host:1")
    db.session.commit()  # ... and the process died before sending
    weekly_summaries(clock.now)
    assert smtp_server.messages == [] and ledger()[0].status == "sending"
    clock.advance(minutes=16)
    weekly_summaries(clock.now)
    assert len(smtp_server.messages) == 1 and ledger()[0].status == "sent"
    assert smtp_server.messages[0]["Message-ID"] == stuck.message_id


@pytest.mark.parametrize(("zone", "owed_from"), [
    ("UTC", ["2026-10-26T08:00", "2026-11-02T08:00"]),
    ("America/New_York", ["2026-10-26T12:00", "2026-11-02T13:00"]),  # EDT, then EST after 1 November
    ("Asia/Kolkata", ["2026-10-26T02:30", "2026-11-02T02:30"]),
])
def test_each_patient_gets_theirs_at_their_own_local_time_across_the_dst_change(
        enrol, smtp_server, clock, zone, owed_from):
    patient = enrol(zone=zone)
    patient.patient_profile.enrolled_at = datetime(2026, 10, 19, 12, tzinfo=timezone.utc)  # W43 is the first week
    db.session.commit()
    arrivals = []
    for monday in (datetime(2026, 10, 25, 12, tzinfo=timezone.utc), datetime(2026, 11, 1, 12, tzinfo=timezone.utc)):
        # Every half hour from Sunday noon to Monday 18:00 UTC, as a scheduler polling the ledger would.
        for step in range(61):
            clock.now = monday + timedelta(minutes=30 * step)
            before = len(smtp_server.messages)
            weekly_summaries(clock.now)
            arrivals += [clock.now.strftime("%Y-%m-%dT%H:%M")] * (len(smtp_server.messages) - before)
    assert arrivals == owed_from
    assert [(r.recipient_id, r.period) for r in ledger()] == [(patient.id, "2026-W43"), (patient.id, "2026-W44")]


def test_a_week_missed_while_the_scheduler_was_down_is_sent_once_when_it_comes_back(enrol, smtp_server, clock):
    patient = enrol()
    clock.set("2026-11-27T15:00:00+00:00")  # Friday: down since before Monday 08:00
    weekly_summaries(clock.now)
    weekly_summaries(clock.now)
    sent = zip(smtp_server.messages, ledger(), strict=False)
    assert [(m["To"], r.period) for m, r in sent] == [(patient.email, "2026-W47")]


def test_after_a_longer_outage_only_the_latest_week_goes_out(enrol, smtp_server, clock):
    enrol()
    clock.set("2026-12-08T15:00:00+00:00")  # two Mondays missed
    weekly_summaries(clock.now)
    assert [r.period for r in ledger()] == ["2026-W49"]


def test_the_week_option_picks_a_week_and_never_one_that_is_not_over(enrol, smtp_server, clock):
    enrol()
    assert weekly_summaries(clock.now, week="2026-W48").newly_owed == 0  # the current week
    assert weekly_summaries(clock.now, week="2026-W46").send.sent == 1
    assert weekly_summaries(clock.now, week="2026-W46").send.sent == 0
    assert [r.period for r in ledger()] == ["2026-W46"]


def test_who_gets_no_summary(make, enrol, smtp_server, clock):
    enrol(weekly_summary="off")
    make.patient(registered=False)  # invited, never signed up
    inactive = enrol()
    inactive.is_active = False
    make.patient(timezone="UTC")  # enrolled today: the week before is not theirs
    db.session.commit()
    assert weekly_summaries(clock.now).newly_owed == 0 and ledger() == []


def test_a_summary_turned_off_between_owing_and_sending_is_skipped(enrol, stopped_smtp_server, clock):
    patient = enrol()
    weekly_summaries(clock.now)  # owed, but the server is down
    set_preferences(patient, weekly_summary="off")
    stopped_smtp_server.start()
    clock.advance(minutes=5)
    weekly_summaries(clock.now)
    assert stopped_smtp_server.messages == []
    assert [(r.status, r.last_error) for r in ledger()] == [("skipped", "weekly summary turned off")]


def test_without_smtp_the_summaries_are_written_to_the_outbox_folder(enrol, app, clock, tmp_path, monkeypatch):
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    enrol(weekly_summary="detailed")
    weekly_summaries(clock.now)
    [row] = ledger()
    [eml] = (tmp_path / "outbox").glob("*.eml")
    assert row.status == "sent" and row.message_id.strip("<>").split("@")[0] in eml.name
    assert b"Your Waypoint week" in eml.read_bytes()


# --- the clinician digest --------------------------------------------------------------------

def open_alert(patient, severity=AlertSeverity.urgent, status=AlertStatus.open, rule="self_harm"):
    db.session.add(Alert(
        organization_id=patient.organization_id, patient_id=patient.id, rule=rule, severity=severity,
        status=status, summary="test", evidence={}, local_day=W47, open_key=f"{patient.id}:{rule}",
    ))
    db.session.commit()


def test_the_clinician_digest_carries_counts_and_no_names_by_default(make, enrol, smtp_server, clock):
    clinician = make.clinician(name="Dr. Elena Rivera")
    improving = enrol(clinician=clinician, name="Maya Thompson")
    worsening = enrol(clinician=clinician, name="Daniel Nguyen")
    checkins(make, improving, W47 - timedelta(days=7), 7, craving=7)
    checkins(make, improving, W47, 7, craving=2)
    checkins(make, worsening, W47 - timedelta(days=7), 7)
    checkins(make, worsening, W47, 3, used_substance=True, substances=["alcohol"])
    open_alert(worsening)
    open_alert(worsening, AlertSeverity.high, AlertStatus.acknowledged, rule="substance_use")
    make.clinician()  # no caseload: no digest

    clinician_digests(clock.now)
    clinician_digests(clock.now)

    [digest] = smtp_server.messages
    text = text_of(digest)
    assert digest["To"] == clinician.email and digest["Subject"] == "Your Waypoint caseload, week of 16 November"
    assert "Your caseload for 16\u201322 November 2026: 2 patients." in text
    assert "Improved" in text and "Open alerts: 2, of which urgent: 1" in text
    for name in ("Maya", "Thompson", "Daniel", "Nguyen"):
        assert name not in text and name not in html_of(digest)
    assert REDISCLOSURE_NOTICE not in text
    assert [(r.recipient_id, r.kind, r.period, r.status) for r in ledger()] == [
        (clinician.id, "clinician_digest", "2026-W47", "sent")]


def test_an_organization_can_put_names_in_the_digest(make, enrol, smtp_server, clock):
    clinician = make.clinician()
    patient = enrol(clinician=clinician, name="Maya Thompson")
    checkins(make, patient, W47, 4)
    db.session.get(Organization, clinician.organization_id).digest_detail = True
    db.session.commit()
    clinician_digests(clock.now)
    [digest] = smtp_server.messages
    assert "Maya Thompson" in text_of(digest) and REDISCLOSURE_NOTICE in text_of(digest)


def test_a_clinician_who_unsubscribed_gets_no_digest(make, enrol, smtp_server, clock):
    clinician = make.clinician()
    enrol(clinician=clinician)
    set_preferences(clinician, weekly_summary="off")
    assert clinician_digests(clock.now).newly_owed == 0 and smtp_server.messages == []


def test_a_write_from_another_connection_while_composing_does_not_fail_the_marks(enrol, smtp_server, clock):
    from sqlalchemy import text

    from jobs.weekly import compose_weekly_summaries
    from services.delivery import send_owed
    from services.ledger import record_owed
    from services.scheduled_mail import owed_weekly_summaries

    enrol()
    enrol()
    owed = owed_weekly_summaries(clock.now)
    db.session.commit()
    record_owed("weekly_summary", owed, clock.now)
    db.session.commit()

    def compose_while_the_api_writes(batch):
        letters = compose_weekly_summaries(batch)  # reads: on SQLite, a snapshot
        with db.engine.begin() as connection:  # meanwhile the web process commits a write
            connection.execute(text("UPDATE organizations SET name = name"))
        return letters

    report = send_owed("weekly_summary", compose_while_the_api_writes)
    assert report.sent == 2 and {r.status for r in ledger()} == {"sent"}
