"""The alert engine: every rule at its threshold and one step below, raising, repeats, races, hooks."""
import threading
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import event, insert, select

from models import Alert, AlertSeverity, AlertStatus, AttendanceStatus, Organization, db
from services.alert_inbox import acknowledge_alert, alerts_by_patient, open_alert_counts, resolve_alert
from services.alert_rules import (
    DEFAULT_THRESHOLDS,
    assessment_findings,
    checkin_findings,
    craving_spike_rule,
    disengagement_rule,
    missed_sessions_rule,
    mood_worsening_rule,
    self_harm_rule,
    short_sleep_rule,
    substance_use_rule,
    thresholds,
    thresholds_from,
)
from services.alerts import (
    PatientKey,
    alerts_after_assessment,
    alerts_after_attendance,
    daily_absence_pass,
    raise_alert,
)
from services.checkin_alerts import alerts_after_checkin
from services.checkins import record_checkin
from services.crisis import checkin_crisis_resources, crisis_resources
from services.risk import RISK_RULES
from services.step_up import step_up_flag
from services.trends import DayRecord
from tests.factories import (
    assessment_response,
    checkin_body,
    create_alert,
    create_session,
    questionnaire_answers,
)
from tests.queries import count_queries

# The frozen clock: Monday 2026-11-23 17:00 UTC, noon in New York.
TODAY = date(2026, 11, 23)
LIMITS = DEFAULT_THRESHOLDS


def day(offset: int) -> date:
    """Return the day offset days before TODAY."""
    return TODAY - timedelta(days=offset)


def rec(on: date, craving=3, mood=6, sleep=7.5, used=False) -> DayRecord:
    return DayRecord(day=on, craving=craving, mood=mood, sleep_hours=sleep, used_substance=used)


def by_day(*records: DayRecord) -> dict:
    return {r.day: r for r in records}


def rule_of(finding) -> str | None:
    return finding.rule if finding is not None else None


# --- every rule at its threshold and one step below (pure) ------------------------------

def _alternating_baseline(days: int) -> list[DayRecord]:
    # Cravings 2, 4, 2, 4, ...: mean 3, population SD exactly 1.
    return [rec(day(offset), craving=2 if offset % 2 else 4) for offset in range(1, days + 1)]


def _mood(a, b, c, d) -> list[DayRecord]:
    # Days 12, 8, 4 and 0 before today: the least-squares slope is (-6a - 2b + 2c + 6d) / 80.
    return [rec(day(12), mood=a), rec(day(8), mood=b), rec(day(4), mood=c), rec(day(0), mood=d)]


RULE_TABLE = [
    # (case, finding function, expected rule or None)
    ("self-harm yes", lambda: self_harm_rule(TODAY, True), "self_harm"),
    ("self-harm no", lambda: self_harm_rule(TODAY, False), None),
    ("self-harm unanswered", lambda: self_harm_rule(TODAY, None), None),
    ("use today", lambda: substance_use_rule(rec(TODAY, used=True), TODAY, LIMITS), "substance_use"),
    ("no use", lambda: substance_use_rule(rec(TODAY), TODAY, LIMITS), None),
    ("use 6 days back (7th day of the window)",
     lambda: substance_use_rule(rec(day(6), used=True), TODAY, LIMITS), "substance_use"),
    ("use 7 days back (out of the window)",
     lambda: substance_use_rule(rec(day(7), used=True), TODAY, LIMITS), None),
    ("craving 8 and 8 on two days running",
     lambda: craving_spike_rule(by_day(rec(day(1), craving=8), rec(TODAY, craving=8)), TODAY, TODAY, LIMITS),
     "craving_spike"),
    ("craving 8 then 7",
     lambda: craving_spike_rule(by_day(rec(day(1), craving=8), rec(TODAY, craving=7)), TODAY, TODAY, LIMITS),
     None),
    ("craving 8 on two days with one between",
     lambda: craving_spike_rule(by_day(rec(day(2), craving=8), rec(TODAY, craving=9)), TODAY, TODAY, LIMITS),
     None),
    ("a late day completes a pair with the day after it",
     lambda: craving_spike_rule(by_day(rec(day(2), craving=9), rec(day(1), craving=8)), day(2), TODAY, LIMITS),
     "craving_spike"),
    ("a pair 7 days back",
     lambda: craving_spike_rule(by_day(rec(day(8), craving=9), rec(day(7), craving=9)), day(7), TODAY, LIMITS),
     None),
    ("craving 2 SD over an 8-day baseline",
     lambda: craving_spike_rule(by_day(*_alternating_baseline(8), rec(TODAY, craving=5)), TODAY, TODAY, LIMITS),
     "craving_spike"),
    ("craving 1 SD over an 8-day baseline",
     lambda: craving_spike_rule(by_day(*_alternating_baseline(8), rec(TODAY, craving=4)), TODAY, TODAY, LIMITS),
     None),
    ("craving 2 SD over a 6-day baseline (too thin)",
     lambda: craving_spike_rule(by_day(*_alternating_baseline(6), rec(TODAY, craving=5)), TODAY, TODAY, LIMITS),
     None),
    ("craving 2 points over a flat 7-day baseline (SD floored at 1)",
     lambda: craving_spike_rule(by_day(*[rec(day(o), craving=3) for o in range(1, 8)], rec(TODAY, craving=5)),
                                TODAY, TODAY, LIMITS),
     "craving_spike"),
    ("craving 1 point over a flat 7-day baseline",
     lambda: craving_spike_rule(by_day(*[rec(day(o), craving=3) for o in range(1, 8)], rec(TODAY, craving=4)),
                                TODAY, TODAY, LIMITS),
     None),
    ("mood slope -0.15/day on 4 check-ins", lambda: mood_worsening_rule(_mood(7, 6, 6, 5), TODAY, LIMITS),
     "mood_worsening"),
    ("mood slope -0.125/day", lambda: mood_worsening_rule(_mood(7, 6, 7, 5), TODAY, LIMITS), None),
    ("mood falling steeply on 3 check-ins only",
     lambda: mood_worsening_rule(_mood(9, 6, 3, 1)[1:], TODAY, LIMITS), None),
    ("under 4 h on 3 of the last 5 nights",
     lambda: short_sleep_rule(by_day(rec(day(4), sleep=3.75), rec(day(2), sleep=2), rec(TODAY, sleep=3)),
                              TODAY, LIMITS),
     "short_sleep"),
    ("under 4 h on 2 of the last 5 nights, and 4 h on one",
     lambda: short_sleep_rule(by_day(rec(day(4), sleep=3.75), rec(day(2), sleep=4), rec(TODAY, sleep=3)),
                              TODAY, LIMITS),
     None),
    ("a short night 5 days back is out of the window",
     lambda: short_sleep_rule(by_day(rec(day(5), sleep=3), rec(day(2), sleep=2), rec(TODAY, sleep=3)),
                              TODAY, LIMITS),
     None),
    ("last check-in 3 days ago", lambda: disengagement_rule(day(3), day(30), TODAY, LIMITS), "disengagement"),
    ("last check-in 2 days ago", lambda: disengagement_rule(day(2), day(30), TODAY, LIMITS), None),
    ("never checked in, enrolled 3 days ago", lambda: disengagement_rule(None, day(3), TODAY, LIMITS),
     "disengagement"),
    ("never checked in, enrolled 2 days ago", lambda: disengagement_rule(None, day(2), TODAY, LIMITS), None),
]


@pytest.mark.parametrize("case, finding, expected", RULE_TABLE, ids=[case for case, _, _ in RULE_TABLE])
def test_each_checkin_and_absence_rule_at_its_threshold_and_one_step_below(case, finding, expected):
    assert rule_of(finding()) == expected


def session(id_, status, offset=0):
    return SimpleNamespace(id=id_, session_date=day(offset), status=AttendanceStatus(status))


MISSED_TABLE = [
    ("two missed in a row", ["attended", "missed", "missed"], 3, "missed_sessions"),
    ("missed after attended", ["missed", "attended", "missed"], 3, None),
    ("an excused session neither counts nor breaks the run", ["missed", "excused", "missed"], 3,
     "missed_sessions"),
    ("a back-dated missed session joins the run after it", ["missed", "missed", "attended"], 1,
     "missed_sessions"),
    ("the recorded session was attended", ["missed", "attended"], 2, None),
    ("one missed session", ["attended", "missed"], 2, None),
]


@pytest.mark.parametrize("case, statuses, record_id, expected", MISSED_TABLE, ids=[c[0] for c in MISSED_TABLE])
def test_missed_sessions_at_two_in_a_row_and_one_step_below(case, statuses, record_id, expected):
    sessions = [session(i + 1, status, offset=len(statuses) - i) for i, status in enumerate(statuses)]

    assert rule_of(missed_sessions_rule(sessions, record_id, LIMITS)) == expected


def test_the_missed_sessions_run_length_is_a_setting():
    sessions = [session(1, "missed", 2), session(2, "missed", 1)]

    assert missed_sessions_rule(sessions, 2, thresholds_from({"missed_in_a_row": 3})) is None
    assert missed_sessions_rule([*sessions, session(3, "missed")], 3,
                                thresholds_from({"missed_in_a_row": 3})).evidence["missed_in_a_row"] == 3


def scored(instrument, total=None, previous=None, crisis=False, item9=None, risk=None):
    subscales = {"risk": {"score": risk}} if risk is not None else {}
    return [f.rule for f in assessment_findings(
        instrument, local_day=TODAY, total=total, previous_total=previous, crisis=crisis, item9=item9,
        subscales=subscales, limits=LIMITS)]


@pytest.mark.parametrize("case, rules, expected", [
    ("PHQ-9 item 9 above 0", lambda: scored("phq9", 5, crisis=True, item9=1), ["phq9_item9"]),
    ("PHQ-9 item 9 at 0", lambda: scored("phq9", 5, crisis=False, item9=0), []),
    ("PHQ-9 up 5", lambda: scored("phq9", 12, previous=7), ["phq9_worsening"]),
    ("PHQ-9 up 4", lambda: scored("phq9", 11, previous=7), []),
    ("a first PHQ-9, however high", lambda: scored("phq9", 27), []),
    ("GAD-7 up 4", lambda: scored("gad7", 10, previous=6), ["gad7_worsening"]),
    ("GAD-7 up 3", lambda: scored("gad7", 9, previous=6), []),
    ("BAM risk 12", lambda: scored("bam", risk=12), ["bam_risk"]),
    ("BAM risk 11", lambda: scored("bam", risk=11), []),
    ("PHQ-9 up 5 with item 9", lambda: scored("phq9", 12, previous=7, crisis=True, item9=2),
     ["phq9_item9", "phq9_worsening"]),
], ids=lambda value: value if isinstance(value, str) else "")
def test_each_questionnaire_rule_at_its_threshold_and_one_step_below(case, rules, expected):
    assert rules() == expected


def test_an_organization_overrides_thresholds_key_by_key_and_bad_overrides_are_ignored(app):
    organization = Organization(name="Overrides", alert_thresholds={
        "craving_spike": 9, "mood_slope": -0.2, "quiet_days": True, "bam_risk": "12", "unknown": 1,
    })

    limits = thresholds(organization)

    assert limits == {**DEFAULT_THRESHOLDS, "craving_spike": 9, "mood_slope": -0.2}
    pair = by_day(rec(day(1), craving=8), rec(TODAY, craving=8))
    assert craving_spike_rule(pair, TODAY, TODAY, limits) is None
    assert thresholds(None) == DEFAULT_THRESHOLDS


@pytest.mark.parametrize("key, value, expected", [
    ("short_sleep_of", 6.0, 6),
    ("short_sleep_of", 5.5, 5),
    ("quiet_days", 0, 3),
    ("craving_sd_floor", 0, 1.0),
    ("craving_sd_floor", 0.5, 0.5),
    ("short_sleep_hours", 5, 5.0),
    ("mood_slope", 0.1, -0.15),
    ("mood_slope", -1, -1.0),
    ("phq9_rise", -5, 5),
    ("bam_risk", None, 12),
])
def test_an_override_must_be_a_number_of_the_defaults_kind_and_sign(key, value, expected):
    limits = thresholds_from({key: value})

    assert limits[key] == expected and type(limits[key]) is type(DEFAULT_THRESHOLDS[key])


def test_the_shared_thresholds_agree_with_the_caseload_risk_rules():
    for key in ("craving_spike", "short_sleep_hours", "short_sleep_nights", "short_sleep_of", "quiet_days",
                "bam_risk"):
        assert DEFAULT_THRESHOLDS[key] == RISK_RULES[key], key


def test_checkin_findings_gather_every_rule_that_holds():
    records = by_day(rec(day(2), sleep=3), rec(day(1), craving=9, sleep=3),
                     rec(TODAY, craving=8, sleep=2, used=True))

    found = checkin_findings(records, TODAY, True, TODAY, LIMITS, ["alcohol"])

    assert set(found) == {"self_harm", "substance_use", "craving_spike", "short_sleep"}
    assert found["substance_use"].evidence == {"checkin_day": "2026-11-23", "substances": ["alcohol"]}
    assert {f.severity for f in found.values()} == {AlertSeverity.urgent, AlertSeverity.high,
                                                    AlertSeverity.medium}


# --- raising: one open alert per rule per patient ------------------------------------------

ENROLLED = "2026-10-01T14:00:00+00:00"


@pytest.fixture
def patient(make, clinician, clock):
    """Conftest's patient, enrolled at ENROLLED instead of the frozen now."""
    with clock.moved_to(ENROLLED):
        return make.patient(clinician)


def alerts_of(patient) -> list[Alert]:
    db.session.expire_all()
    return list(db.session.scalars(select(Alert).where(Alert.patient_id == patient.id).order_by(Alert.id)))


def test_a_repeat_updates_the_open_alert_instead_of_adding_one(patient, clock, count):
    first = raise_alert(patient, "substance_use", "high", "Use on 22", {"n": 1}, day(1), clock.now)
    db.session.commit()
    clock.advance(hours=2)
    again = raise_alert(patient, "substance_use", "urgent", "Use on 23", {"n": 2}, TODAY, clock.now)
    db.session.commit()
    clock.advance(hours=1)
    lower = raise_alert(patient, "substance_use", "medium", "Use again", {"n": 3}, TODAY, clock.now)
    db.session.commit()

    assert first.id == again.id == lower.id
    (alert,) = alerts_of(patient)
    assert (alert.trigger_count, alert.severity, alert.status, alert.evidence, alert.summary, alert.local_day) == (
        3, AlertSeverity.urgent, AlertStatus.open, {"n": 3}, "Use again", TODAY)
    assert alert.first_triggered_at == datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc)
    assert alert.last_triggered_at == datetime(2026, 11, 23, 20, 0, tzinfo=timezone.utc)
    assert alert.open_key == f"{patient.id}:substance_use"


def test_a_repeat_of_an_acknowledged_alert_updates_it_and_keeps_it_acknowledged(patient, clinician, clock):
    alert = raise_alert(patient, "short_sleep", "medium", "s", {}, TODAY, clock.now)
    acknowledge_alert(clinician, alert.id, "Called", clock.now)
    db.session.commit()

    raise_alert(patient, "short_sleep", "medium", "s", {}, TODAY, clock.now)
    db.session.commit()

    (stored,) = alerts_of(patient)
    assert (stored.status, stored.trigger_count, stored.acknowledge_note) == (AlertStatus.acknowledged, 2, "Called")


def test_rules_do_not_share_an_alert_and_patients_do_not_share_one(make, patient, clinician, clock, count):
    other = make.patient(clinician)
    raise_alert(patient, "substance_use", "high", "s", {}, TODAY, clock.now)
    raise_alert(patient, "short_sleep", "medium", "s", {}, TODAY, clock.now)
    raise_alert(other, "substance_use", "high", "s", {}, TODAY, clock.now)
    db.session.commit()

    assert count(Alert) == 3


def test_resolving_frees_the_rule_so_a_later_trigger_opens_a_fresh_alert(patient, clinician, clock):
    first = raise_alert(patient, "substance_use", "high", "s", {}, TODAY, clock.now)
    raise_alert(patient, "substance_use", "high", "s", {}, TODAY, clock.now)
    resolve_alert(clinician, first.id, "Talked it through", clock.now)
    db.session.commit()
    clock.advance(days=1)

    fresh = raise_alert(patient, "substance_use", "high", "s", {}, TODAY + timedelta(days=1), clock.now)
    db.session.commit()

    old, new = alerts_of(patient)
    assert (old.id, old.status, old.open_key, old.trigger_count) == (first.id, AlertStatus.resolved, None, 2)
    assert (new.id, new.status, new.open_key, new.trigger_count) == (
        fresh.id, AlertStatus.open, f"{patient.id}:substance_use", 1)


def test_ten_writers_raising_one_rule_at_once_leave_one_open_alert_counted_ten_times(
        app, postgres_only, patient, clock):
    key = PatientKey(patient.id, patient.organization_id)
    writers = 10
    barrier = threading.Barrier(writers)
    failures = []

    def write():
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                raise_alert(key, "substance_use", "high", "Use reported", {}, TODAY, clock.now)
                db.session.commit()
        except BaseException as error:  # noqa: BLE001 - reported below, in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    (alert,) = alerts_of(patient)
    assert (alert.status, alert.trigger_count, alert.open_key) == (
        AlertStatus.open, writers, f"{patient.id}:substance_use")


# --- the check-in hook --------------------------------------------------------------------------

def write(patient, on: date, now, if_match=None, **fields):
    """Write a check-in through the real service, as the API does (it runs the hook)."""
    result = record_checkin(patient, on, checkin_body(**fields), if_match, now)
    db.session.commit()
    return result.checkin, list(result.alerts)


def test_a_self_harm_checkin_raises_one_urgent_alert_with_no_words_of_the_patient(patient, clock):
    _, raised = write(patient, TODAY, clock.now, self_harm_thoughts=True, note="I wrote something private")

    (alert,) = alerts_of(patient)
    assert [a.id for a in raised] == [alert.id]
    assert (alert.rule, alert.severity, alert.status, alert.local_day) == (
        "self_harm", AlertSeverity.urgent, AlertStatus.open, TODAY)
    assert "private" not in alert.summary and "private" not in str(alert.evidence)
    assert alert.evidence["source"].startswith("checkin:")


def test_an_edit_that_keeps_the_self_harm_answer_raises_nothing_new(patient, clock):
    write(patient, TODAY, clock.now, self_harm_thoughts=True)
    clock.advance(minutes=5)
    _, raised = write(patient, TODAY, clock.now, ["1"], self_harm_thoughts=True, mood=3)

    assert raised == []
    assert [a.trigger_count for a in alerts_of(patient)] == [1]


def test_a_retried_hook_for_the_same_version_counts_once(patient, clock):
    checkin, _ = write(patient, TODAY, clock.now, self_harm_thoughts=True, used_substance=True)

    again = alerts_after_checkin(patient, checkin, clock.now)
    db.session.commit()

    assert again == []
    assert sorted((a.rule, a.trigger_count) for a in alerts_of(patient)) == [("self_harm", 1), ("substance_use", 1)]


def test_an_old_checkin_retried_after_a_later_trigger_and_a_resolution_raises_nothing(patient, clinician,
                                                                                      clock):
    yesterday, _ = write(patient, day(1), clock.now, self_harm_thoughts=True)
    clock.advance(hours=1)
    _, (alert,) = write(patient, TODAY, clock.now, self_harm_thoughts=True)
    resolve_alert(clinician, alert.id, None, clock.now)
    db.session.commit()
    clock.advance(hours=1)

    # The phone sends yesterday's unchanged check-in again, and the hook runs for it.
    assert alerts_after_checkin(patient, yesterday, clock.now) == []
    assert [(a.status, a.trigger_count) for a in alerts_of(patient)] == [(AlertStatus.resolved, 2)]


def test_an_edit_that_adds_the_answer_raises_and_one_that_brings_it_back_repeats(patient, clock):
    write(patient, TODAY, clock.now, self_harm_thoughts=True)
    clock.advance(minutes=5)
    _, raised = write(patient, TODAY, clock.now, ["1"], self_harm_thoughts=False)
    assert raised == []
    clock.advance(minutes=5)
    _, raised = write(patient, TODAY, clock.now, ["2"], self_harm_thoughts=True)

    assert [a.rule for a in raised] == ["self_harm"]
    assert [a.trigger_count for a in alerts_of(patient)] == [2]


def test_a_late_entry_raises_self_harm_but_not_use_from_weeks_ago(patient, clock):
    _, raised = write(patient, day(10), clock.now, used_substance=True, substances=["alcohol"],
                      self_harm_thoughts=True)

    assert [a.rule for a in raised] == ["self_harm"]
    assert raised[0].evidence["checkin_day"] == "2026-11-13"
    assert raised[0].local_day == TODAY


def test_use_reported_raises_a_high_alert_naming_the_substances(patient, clock):
    _, raised = write(patient, TODAY, clock.now, used_substance=True, substances=["opioids", "alcohol"])

    (alert,) = raised
    assert (alert.rule, alert.severity) == ("substance_use", AlertSeverity.high)
    assert alert.evidence["substances"] == ["alcohol", "opioids"]


def test_the_second_day_of_high_craving_raises_a_spike(make, patient, clock):
    make.checkin(patient, day(1), craving=8)

    _, raised = write(patient, TODAY, clock.now, craving=9)

    (alert,) = raised
    assert (alert.rule, alert.evidence["days"]) == ("craving_spike", ["2026-11-22", "2026-11-23"])


def test_a_rule_a_clinician_resolved_does_not_come_back_on_the_same_evidence(make, patient, clinician, clock):
    for offset in (4, 3):
        make.checkin(patient, day(offset), sleep_hours=3)
    _, raised = write(patient, day(2), clock.now, sleep_hours=3)
    (alert,) = raised
    resolve_alert(clinician, alert.id, None, clock.now)
    db.session.commit()

    _, today = write(patient, TODAY, clock.now, sleep_hours=8)
    assert today == []

    clock.advance(days=1)
    _, tomorrow = write(patient, TODAY + timedelta(days=1), clock.now, sleep_hours=2)
    assert [a.rule for a in tomorrow] == ["short_sleep"]
    assert [a.status for a in alerts_of(patient)] == [AlertStatus.resolved, AlertStatus.open]


def test_a_falling_mood_raises_once_and_not_on_every_later_checkin(make, patient, clock):
    for offset, mood in ((12, 7), (8, 6), (4, 6)):
        make.checkin(patient, day(offset), mood=mood)

    _, raised = write(patient, TODAY, clock.now, mood=5)
    assert [a.rule for a in raised] == ["mood_worsening"]
    assert raised[0].evidence["slope_per_day"] == -0.15

    clock.advance(days=1)
    _, next_day = write(patient, TODAY + timedelta(days=1), clock.now, mood=4)
    assert next_day == []


# --- the questionnaire and attendance hooks ----------------------------------------------------

def submitted(patient, instrument, answers, offset_days=0):
    when = datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc) - timedelta(days=offset_days)
    return assessment_response(patient, instrument, questionnaire_answers(instrument, answers), when,
                               when.date())


def test_phq9_item9_raises_an_urgent_alert(patient, clock):
    response = submitted(patient, "phq9", {"9": 1})

    raised = alerts_after_assessment(patient, response, clock.now)
    db.session.commit()

    (alert,) = raised
    assert (alert.rule, alert.severity, alert.evidence["item9"]) == ("phq9_item9", AlertSeverity.urgent, 1)
    assert alerts_after_assessment(patient, response, clock.now) == []  # a retried hook


@pytest.mark.parametrize("instrument, before, after, expected", [
    ("phq9", {"1": 1, "2": 1, "3": 1, "4": 1}, {"1": 2, "2": 2, "3": 2, "4": 1, "5": 1, "6": 1},
     ["phq9_worsening"]),
    ("phq9", {"1": 1, "2": 1, "3": 1, "4": 1}, {"1": 2, "2": 2, "3": 2, "4": 1, "5": 1}, []),
    ("gad7", {"1": 1, "2": 1}, {"1": 2, "2": 2, "3": 2}, ["gad7_worsening"]),
    ("gad7", {"1": 1, "2": 1}, {"1": 2, "2": 2, "3": 1}, []),
], ids=["phq9 up 5", "phq9 up 4", "gad7 up 4", "gad7 up 3"])
def test_a_score_rising_from_the_previous_one_raises_at_its_threshold(patient, clock, instrument, before,
                                                                      after, expected):
    submitted(patient, instrument, before, offset_days=14)
    response = submitted(patient, instrument, after)

    raised = alerts_after_assessment(patient, response, clock.now)

    assert [a.rule for a in raised] == expected


@pytest.mark.parametrize("health, expected", [(4, ["bam_risk"]), (3, [])], ids=["risk 12", "risk 11"])
def test_bam_risk_factors_at_12_raise_a_high_alert(patient, clock, health, expected):
    response = submitted(patient, "bam", {"1": health, "2": 16, "3": 16})

    assert [a.rule for a in alerts_after_assessment(patient, response, clock.now)] == expected


def test_the_second_missed_session_in_a_row_raises_a_high_alert(patient, clinician, clock):
    create_session(patient, day(7), clinician, status="missed", hours=3)
    create_session(patient, day(5), clinician, status="excused", hours=3)
    record = create_session(patient, day(3), clinician, status="missed", hours=3)

    raised = alerts_after_attendance(patient.id, record, clock.now)

    (alert,) = raised
    assert (alert.rule, alert.severity, alert.evidence["session_dates"]) == (
        "missed_sessions", AlertSeverity.high, ["2026-11-16", "2026-11-20"])


def test_an_attended_session_raises_nothing(patient, clinician, clock):
    create_session(patient, day(7), clinician, status="missed", hours=3)
    record = create_session(patient, day(3), clinician, status="attended", hours=3)

    assert alerts_after_attendance(patient.id, record, clock.now) == []


# --- the daily absence pass ----------------------------------------------------------------------

def test_the_pass_raises_disengagement_after_3_silent_local_days_and_not_after_2(make, clinician, clock):
    clock.set(ENROLLED)
    silent, recent = make.patient(clinician), make.patient(clinician)
    clock.set("2026-11-23T17:00:00+00:00")
    make.checkin(silent, day(3))
    make.checkin(recent, day(2))

    assert daily_absence_pass(clock.now) == 1
    db.session.commit()

    assert [(a.rule, a.severity, a.evidence["days_without_checkin"]) for a in alerts_of(silent)] == [
        ("disengagement", AlertSeverity.medium, 3)]
    assert alerts_of(recent) == []


def test_the_pass_counts_days_since_enrolment_for_a_patient_who_never_checked_in(make, clinician, clock):
    clock.set("2026-11-20T17:00:00+00:00")
    three_days = make.patient(clinician)
    clock.set("2026-11-21T17:00:00+00:00")
    two_days = make.patient(clinician)
    clock.set("2026-11-23T17:00:00+00:00")

    assert daily_absence_pass(clock.now) == 1
    assert [a.evidence["enrolled_on"] for a in alerts_of(three_days)] == ["2026-11-20"]
    assert alerts_of(two_days) == []


def test_the_pass_counts_in_each_patients_own_time_zone(make, clinician, clock):
    clock.set(ENROLLED)
    new_york = make.patient(clinician, timezone="America/New_York")
    kiritimati = make.patient(clinician, timezone="Pacific/Kiritimati")  # UTC+14: already 2026-11-24
    clock.set("2026-11-23T17:00:00+00:00")
    make.checkin(new_york, day(2))
    make.checkin(kiritimati, day(2))

    assert daily_absence_pass(clock.now) == 1
    assert [a.local_day for a in alerts_of(kiritimati)] == [date(2026, 11, 24)]


def test_the_pass_repeats_daily_counts_each_day_once_and_respects_a_resolution(make, patient, clinician, clock):
    make.checkin(patient, day(3))
    assert daily_absence_pass(clock.now) == 1
    assert daily_absence_pass(clock.now) == 0  # a second run the same day
    clock.advance(days=1)
    assert daily_absence_pass(clock.now) == 1
    db.session.commit()
    (alert,) = alerts_of(patient)
    assert (alert.trigger_count, alert.evidence["days_without_checkin"]) == (2, 4)

    resolve_alert(clinician, alert.id, "On holiday, agreed", clock.now)
    db.session.commit()
    clock.advance(days=1)
    assert daily_absence_pass(clock.now) == 0  # the same silence, already closed

    make.checkin(patient, TODAY + timedelta(days=2))
    clock.advance(days=3)
    assert daily_absence_pass(clock.now) == 1  # a new silence
    assert [a.status for a in alerts_of(patient)] == [AlertStatus.resolved, AlertStatus.open]


def test_the_pass_follows_the_organizations_setting_and_can_run_for_one_organization(make, clock):
    strict, usual = make.organization(), make.organization()
    strict.alert_thresholds = {"quiet_days": 2}
    db.session.commit()
    clock.set(ENROLLED)
    in_strict, in_usual = make.patient(organization=strict), make.patient(organization=usual)
    clock.set("2026-11-23T17:00:00+00:00")
    make.checkin(in_strict, day(2))
    make.checkin(in_usual, day(2))

    assert daily_absence_pass(clock.now, organization_id=usual.id) == 0
    assert daily_absence_pass(clock.now, organization_id=strict.id) == 1
    assert daily_absence_pass(clock.now) == 0


def _silent_patients(make, clock, number):
    organization = make.organization()
    clinician = make.clinician(organization)
    clock.set(ENROLLED)
    patients = [make.patient(clinician) for _ in range(number)]
    clock.set("2026-11-23T17:00:00+00:00")
    for patient in patients:
        make.checkin(patient, day(5))
    return organization.id


def test_the_pass_runs_the_same_statements_for_2_patients_as_for_20(make, clock):
    few, many = _silent_patients(make, clock, 2), _silent_patients(make, clock, 20)
    statements = {}
    for label in ("raise", "repeat"):
        for organization, size in ((few, 2), (many, 20)):
            with count_queries() as queries:
                assert daily_absence_pass(clock.now, organization_id=organization) == size
                db.session.commit()
            statements[label, size] = queries()
        clock.advance(days=1)

    assert statements["raise", 2] == statements["raise", 20]
    assert statements["repeat", 2] == statements["repeat", 20]


def test_the_pass_counts_a_repeat_when_another_pass_opened_the_alert_a_moment_before(make, patient, clock):
    make.checkin(patient, day(3))
    competitor = dict(organization_id=patient.organization_id, patient_id=patient.id, rule="disengagement",
                      severity=AlertSeverity.medium, status=AlertStatus.open, summary="Another pass",
                      evidence={}, open_key=f"{patient.id}:disengagement", first_triggered_at=clock.now,
                      last_triggered_at=clock.now, trigger_count=1, local_day=TODAY)
    inserted = []

    def insert_first(conn, cursor, statement, parameters, context, executemany):
        # Between the pass's read and its insert, another process commits the same alert:
        # on SQLite just before the pass takes the write lock (BEGIN IMMEDIATE), on
        # PostgreSQL just before its savepoint.
        if statement.startswith(("BEGIN IMMEDIATE", "SAVEPOINT")) and not inserted:
            inserted.append(True)
            with db.engine.begin() as other:
                other.execute(insert(Alert).values(**competitor))

    event.listen(db.engine, "before_cursor_execute", insert_first)
    try:
        raised = daily_absence_pass(clock.now)
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", insert_first)

    assert inserted and raised == 1
    assert [(a.trigger_count, a.status, a.summary) for a in alerts_of(patient)] == [
        (2, AlertStatus.open, "No check-in for 3 days (last on 2026-11-20)")]


# --- for the caseload ----------------------------------------------------------------------------

def test_open_alert_counts_take_one_statement_and_count_open_and_acknowledged(make, patient, clinician):
    quiet = make.patient(clinician)
    create_alert(patient, "self_harm", severity="urgent")
    create_alert(patient, "substance_use", severity="high", status="acknowledged")
    create_alert(patient, "phq9_item9", severity="urgent", status="resolved")

    ids = [patient.id, quiet.id]
    with count_queries() as queries:
        counts = open_alert_counts(ids)

    assert queries() == 1
    assert counts == {patient.id: {"open": 2, "urgent": 1}, quiet.id: {"open": 0, "urgent": 0}}
    assert open_alert_counts([]) == {}


def test_alerts_by_patient_loads_recent_alerts_of_any_status_in_one_statement(make, patient, clinician):
    other = make.patient(clinician)
    create_alert(patient, "self_harm", severity="urgent", status="resolved", local_day=day(3))
    create_alert(patient, "short_sleep", severity="medium", local_day=day(20))

    ids = [patient.id, other.id]
    with count_queries() as queries:
        loaded = alerts_by_patient(ids, day(13))

    assert queries() == 1
    assert [(a.rule, a.severity, a.status) for a in loaded[patient.id]] == [
        ("self_harm", AlertSeverity.urgent, AlertStatus.resolved)]
    assert loaded[other.id] == []


def attended(offset, status="attended"):
    return SimpleNamespace(session_date=day(offset), status=status)


def urgent(offset, severity="urgent"):
    return SimpleNamespace(severity=severity, local_day=day(offset))


STEP_UP_TABLE = [
    ("use on 3 of the last 14 days", [rec(day(o), used=True) for o in (0, 6, 13)], [], [], ["repeated_use"]),
    ("use on 2 of them", [rec(day(o), used=True) for o in (0, 6)] + [rec(day(14), used=True)], [], [], []),
    ("an urgent alert 13 days ago", [], [urgent(13)], [], ["urgent_alert"]),
    ("an urgent alert 14 days ago", [], [urgent(14)], [], []),
    ("a high alert yesterday", [], [urgent(1, "high")], [], []),
    ("attendance 100 % then 75 % (25 points)", [], [],
     [attended(20), attended(18), attended(9), attended(7), attended(5), attended(3, "missed")],
     ["falling_attendance"]),
    ("attendance 100 % then 80 % (20 points)", [], [],
     [attended(20), attended(18)] + [attended(o) for o in (11, 9, 7, 5)] + [attended(3, "missed")], []),
    ("attendance under 50 %", [], [], [attended(5), attended(3, "missed"), attended(1, "missed")],
     ["falling_attendance"]),
    ("attendance at 50 %", [], [], [attended(5), attended(3, "missed")], []),
    ("one missed session is too little to call a rate", [], [], [attended(3, "missed")], []),
    ("excused sessions are left out", [], [], [attended(5), attended(3, "excused"), attended(1, "excused")], []),
]


@pytest.mark.parametrize("case, records, alerts, sessions, expected", STEP_UP_TABLE,
                         ids=[row[0] for row in STEP_UP_TABLE])
def test_the_step_up_flag_at_each_threshold_and_one_step_below(case, records, alerts, sessions, expected):
    flag = step_up_flag(records, alerts, sessions, TODAY)

    assert [reason.code for reason in flag.reasons] == expected
    assert flag.consider_step_up is bool(expected)
    assert flag.to_dict()["consider_step_up"] is bool(expected)


# --- the crisis path ------------------------------------------------------------------------------

def test_crisis_resources_give_988_and_the_programs_own_number_when_set(make):
    organization = make.organization("Harbor Recovery")

    assert crisis_resources(organization)["program"] == {"name": "Harbor Recovery", "phone": None}
    organization.crisis_phone = "+1 555 0100"
    resources = crisis_resources(organization)

    assert resources["lifeline"] == {"name": "988 Suicide & Crisis Lifeline", "call": "988", "text": "988",
                                     "chat_url": "https://988lifeline.org"}
    assert resources["program"] == {"name": "Harbor Recovery", "phone": "+1 555 0100"}


def test_a_self_harm_checkin_answer_carries_crisis_resources_and_others_do_not(patient, clock):
    crisis, _ = write(patient, TODAY, clock.now, self_harm_thoughts=True)
    calm, _ = write(patient, day(1), clock.now, self_harm_thoughts=False)

    assert checkin_crisis_resources(patient, crisis)["lifeline"]["call"] == "988"
    assert checkin_crisis_resources(patient, calm) is None
