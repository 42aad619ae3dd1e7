"""Daily reminders: one a day at most, at the patient's time, never after they checked in."""
from datetime import date, datetime, time, timedelta, timezone

import pytest

from jobs.reminders import daily_reminders

from .support import ledger

TODAY = date(2026, 11, 23)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def test_a_patient_who_has_not_checked_in_gets_one_reminder_after_their_time(enrol, smtp_server, clock):
    patient = enrol()  # New York, 19:00 by default
    clock.now = at("2026-11-23T18:59:00-05:00")
    assert daily_reminders(clock.now).newly_owed == 0
    clock.now = at("2026-11-23T19:00:00-05:00")
    daily_reminders(clock.now)
    for _ in range(3):
        clock.advance(minutes=5)
        daily_reminders(clock.now)
    [reminder] = smtp_server.messages
    assert reminder["To"] == patient.email and reminder["Subject"] == "A moment for today's check-in?"
    assert "/checkin" in reminder.get_body(("plain",)).get_content()
    assert [(r.kind, r.period, r.status) for r in ledger()] == [("daily_reminder", "2026-11-23", "sent")]


def test_the_next_day_gets_its_own_reminder(enrol, smtp_server, clock):
    enrol()
    for day in ("2026-11-23", "2026-11-24"):
        clock.now = at(f"{day}T19:05:00-05:00")
        daily_reminders(clock.now)
        daily_reminders(clock.now)
    assert [r.period for r in ledger()] == ["2026-11-23", "2026-11-24"]
    assert len(smtp_server.messages) == 2


def test_no_reminder_after_the_patient_checked_in(make, enrol, smtp_server, clock):
    patient = enrol()
    make.checkin(patient, TODAY)
    clock.now = at("2026-11-23T19:30:00-05:00")
    assert daily_reminders(clock.now).newly_owed == 0
    assert smtp_server.messages == [] and ledger() == []


def test_a_check_in_between_owing_and_sending_cancels_the_reminder(make, enrol, stopped_smtp_server, clock):
    patient = enrol()
    clock.now = at("2026-11-23T19:00:00-05:00")
    daily_reminders(clock.now)  # owed, but the mail server is down
    make.checkin(patient, TODAY)
    stopped_smtp_server.start()
    clock.advance(minutes=5)
    daily_reminders(clock.now)
    assert stopped_smtp_server.messages == []
    assert [(r.status, r.last_error) for r in ledger()] == [("skipped", "checked in before the reminder went out")]


def test_a_reminder_still_owed_when_the_day_ends_is_dropped(enrol, stopped_smtp_server, clock):
    enrol(reminder_time=time(22, 30))
    clock.now = at("2026-11-23T22:30:00-05:00")
    daily_reminders(clock.now)
    stopped_smtp_server.start()
    clock.now = at("2026-11-24T00:05:00-05:00")
    daily_reminders(clock.now)
    assert stopped_smtp_server.messages == []
    assert [(r.period, r.status, r.last_error) for r in ledger()] == [("2026-11-23", "skipped", "the day is over")]


@pytest.mark.parametrize("preferences", [
    {"reminders_enabled": False},
    {"reminders_paused_until": TODAY},
    {"reminders_paused_until": TODAY + timedelta(days=3)},
])
def test_no_reminder_while_reminders_are_off_or_paused(enrol, smtp_server, clock, preferences):
    enrol(**preferences)
    clock.now = at("2026-11-23T19:30:00-05:00")
    assert daily_reminders(clock.now).newly_owed == 0 and smtp_server.messages == []


def test_reminders_come_back_the_day_after_a_pause(enrol, smtp_server, clock):
    enrol(reminders_paused_until=TODAY)
    clock.now = at("2026-11-24T19:30:00-05:00")
    daily_reminders(clock.now)
    assert [r.period for r in ledger()] == ["2026-11-24"]


def test_a_scheduler_back_after_the_evening_sends_no_late_reminder(enrol, smtp_server, clock):
    enrol()  # 19:00, owed until 22:00
    clock.now = at("2026-11-23T23:00:00-05:00")
    assert daily_reminders(clock.now).newly_owed == 0
    clock.now = at("2026-11-24T03:00:00-05:00")
    assert daily_reminders(clock.now).newly_owed == 0


def test_each_zone_is_reminded_at_its_own_time(enrol, smtp_server, clock):
    zones = {enrol(zone=zone).email: zone for zone in ("UTC", "Asia/Kolkata", "America/New_York")}
    arrivals = []
    clock.now = at("2026-11-23T12:00:00+00:00")
    for _ in range(14 * 4):  # 12:00 to 02:00 UTC, every 15 minutes
        before = len(smtp_server.messages)
        daily_reminders(clock.now)
        arrivals += [(zones[m["To"]], clock.now.strftime("%H:%M")) for m in smtp_server.messages[before:]]
        clock.advance(minutes=15)
    # 19:00 local everywhere: IST is UTC+5:30, New York UTC-5 in November.
    assert arrivals == [("Asia/Kolkata", "13:30"), ("UTC", "19:00"), ("America/New_York", "00:00")]


def test_a_time_that_happens_twice_on_the_dst_night_reminds_once(enrol, smtp_server, clock):
    enrol(reminder_time=time(1, 30))  # New York: 01:30 comes twice on 2026-11-01
    arrivals = []
    clock.now = at("2026-11-01T04:00:00+00:00")
    while clock.now < at("2026-11-01T09:00:00+00:00"):
        before = len(smtp_server.messages)
        daily_reminders(clock.now)
        arrivals += [clock.now.isoformat()] * (len(smtp_server.messages) - before)
        clock.advance(minutes=15)
    assert arrivals == ["2026-11-01T05:30:00+00:00"]  # 01:30 EDT, the first of the two


def test_a_time_skipped_by_the_spring_change_reminds_just_after_it(enrol, smtp_server, clock):
    enrol(reminder_time=time(2, 30))  # New York: 02:00 jumps to 03:00 on 2026-03-08
    arrivals = []
    clock.now = at("2026-03-08T05:00:00+00:00")
    while clock.now < at("2026-03-08T09:00:00+00:00"):
        before = len(smtp_server.messages)
        daily_reminders(clock.now)
        arrivals += [clock.now.isoformat()] * (len(smtp_server.messages) - before)
        clock.advance(minutes=15)
    assert arrivals == ["2026-03-08T07:00:00+00:00"]  # 03:00 EDT


def test_the_reminder_job_takes_no_week(app):
    with pytest.raises(ValueError):
        daily_reminders(week="2026-W47")
