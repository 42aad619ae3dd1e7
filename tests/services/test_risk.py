"""Risk rules: every rule at its threshold and just past it, and the level is the worst reason.

Series are kept short on purpose: with fewer than 4 check-ins in 14 days
no slope is fitted (services.trends), so a table row tests its own rule
and nothing else. The rows that need more days keep every value constant,
so the fitted slopes are 0 ("steady").
"""
from datetime import date, timedelta

import pytest

from services.risk import assess_risk
from services.trends import DayRecord

TODAY = date(2026, 11, 23)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def checkin(days_ago: int, **fields) -> DayRecord:
    values = {"craving": 2, "mood": 7, "sleep_hours": 7.5, "used_substance": False}
    values.update(fields)
    return DayRecord(day=ago(days_ago), **values)


def daily(first_ago: int, last_ago: int = 0, **fields) -> list[DayRecord]:
    """One identical check-in a day from first_ago days ago to last_ago days ago."""
    return [checkin(n, **fields) for n in range(first_ago, last_ago - 1, -1)]


def codes(risk) -> list[str]:
    return [reason.code for reason in risk.reasons]


def phq9(total: int, item9: int = 0) -> dict:
    return {"phq9": {"total": total, "item9": item9, "subscales": {}, "local_day": "2026-11-20"}}


def gad7(total: int) -> dict:
    return {"gad7": {"total": total, "item9": None, "subscales": {}, "local_day": "2026-11-20"}}


def bam(risk: int = 0, use: int = 0) -> dict:
    return {"bam": {"total": None, "item9": None, "local_day": "2026-11-20",
                    "subscales": {"risk": {"score": risk}, "use": {"score": use}, "protective": {"score": 20}}}}


def attendance(rate: float | None, sessions: int) -> dict:
    return {"attendance_rate": rate, "attended_sessions": sessions}


# (description, records, keyword arguments of assess_risk, expected reason codes)
RULES = [
    # self-harm thoughts in the last 14 days: today-13 .. today
    ("self-harm today", [checkin(0)], {"self_harm_days": [ago(0)]}, ["self_harm"]),
    ("self-harm 13 days ago, the oldest day of the 14", [checkin(0)], {"self_harm_days": [ago(13)]}, ["self_harm"]),
    ("self-harm 14 days ago", [checkin(0)], {"self_harm_days": [ago(14)]}, []),
    ("self-harm 15 days ago", [checkin(0)], {"self_harm_days": [ago(15)]}, []),
    # PHQ-9 item 9 above 0 on the latest PHQ-9
    ("PHQ-9 item 9 answered 1", [checkin(0)], {"latest_scores": phq9(3, item9=1)}, ["phq9_item9"]),
    ("PHQ-9 item 9 answered 0", [checkin(0)], {"latest_scores": phq9(3, item9=0)}, []),
    # use in the last 7 days: today-6 .. today
    ("use today", [checkin(1), checkin(0, used_substance=True)], {}, ["recent_use"]),
    ("use 6 days ago", [checkin(6, used_substance=True), *daily(5)], {}, ["recent_use"]),
    ("use 7 days ago", [checkin(7, used_substance=True), *daily(6)], {}, []),
    ("use 8 days ago", [checkin(8, used_substance=True), *daily(7)], {}, []),
    # craving >= 8 on two days running within the last 7
    ("craving 8 yesterday and today", [checkin(2), checkin(1, craving=8), checkin(0, craving=8)], {},
     ["craving_spike"]),
    ("craving 8, 3, 8", [checkin(2, craving=8), checkin(1, craving=3), checkin(0, craving=8)], {}, []),
    ("craving 8 and 7 running", [checkin(2), checkin(1, craving=8), checkin(0, craving=7)], {}, []),
    # (then steady at 2: a falling craving line is no reason of its own)
    ("craving 10 six and five days ago", [checkin(6, craving=10), checkin(5, craving=10), *daily(4)], {},
     ["craving_spike"]),
    ("craving 10 seven and six days ago", [checkin(7, craving=10), checkin(6, craving=10), *daily(5)], {}, []),
    # no check-in for 3 days or more (constant values: the slopes are 0)
    ("last check-in 3 days ago", daily(10, 3), {}, ["quiet"]),
    ("last check-in 2 days ago", daily(10, 2), {}, []),
    ("never checked in, enrolled 3 days ago", [], {"in_treatment_since": ago(3)}, ["quiet", "low_adherence"]),
    ("never checked in, enrolled 2 days ago", [], {"in_treatment_since": ago(2)}, ["low_adherence"]),
    # under 4 h of sleep on 3 of the last 5 nights (today-4 .. today)
    ("3 short nights of 5", daily(4, 0, sleep_hours=3.5)[:3] + daily(1, 0), {}, ["short_sleep"]),
    ("2 short nights of 5", daily(4, 0, sleep_hours=3.5)[:2] + daily(2, 0), {}, []),
    ("3 nights of exactly 4 h", daily(4, 0, sleep_hours=4.0)[:3] + daily(1, 0), {}, []),
    ("3 short nights, the first 5 days ago", daily(5, 3, sleep_hours=3.0) + daily(2, 0), {}, []),
    # 7-day check-in adherence under 50 % (3 of 7 is the closest share under 50 a week allows)
    ("3 of 7 days", [checkin(6), checkin(3), checkin(0)], {"in_treatment_since": ago(30)}, ["low_adherence"]),
    ("1 of 2 days", [checkin(1)], {"in_treatment_since": ago(2)}, []),
    ("4 of 7 days", [checkin(6), checkin(4), checkin(2), checkin(0)], {"in_treatment_since": ago(30)}, []),
    # questionnaire totals
    ("PHQ-9 15", [checkin(0)], {"latest_scores": phq9(15)}, ["phq9_high"]),
    ("PHQ-9 14", [checkin(0)], {"latest_scores": phq9(14)}, []),
    ("GAD-7 15", [checkin(0)], {"latest_scores": gad7(15)}, ["gad7_high"]),
    ("GAD-7 14", [checkin(0)], {"latest_scores": gad7(14)}, []),
    ("BAM risk 12", [checkin(0)], {"latest_scores": bam(risk=12)}, ["bam_risk"]),
    ("BAM risk 11", [checkin(0)], {"latest_scores": bam(risk=11)}, []),
    ("BAM use 1", [checkin(0)], {"latest_scores": bam(use=1)}, ["bam_use"]),
    ("BAM use 0", [checkin(0)], {"latest_scores": bam(use=0)}, []),
    # attendance under 75 % over 14 days, with at least 2 sessions behind it
    ("attendance 74 % of 4 sessions", [checkin(0)], attendance(74.0, 4), ["low_attendance"]),
    ("attendance 75 % of 4 sessions", [checkin(0)], attendance(75.0, 4), []),
    ("attendance 50 % of 2 sessions", [checkin(0)], attendance(50.0, 2), ["low_attendance"]),
    ("attendance 0 % of 1 session", [checkin(0)], attendance(0.0, 1), []),
    ("no sessions", [checkin(0)], attendance(None, 0), []),
]


@pytest.mark.parametrize("records, arguments, expected", [row[1:] for row in RULES], ids=[row[0] for row in RULES])
def test_each_rule_fires_at_its_threshold_and_not_past_it(records, arguments, expected):
    assert codes(assess_risk(records, TODAY, **arguments)) == expected


LEVELS = {
    "self_harm": "high", "phq9_item9": "high", "recent_use": "high", "craving_spike": "high",
    "quiet": "medium", "craving_worsening": "medium", "mood_worsening": "medium", "short_sleep": "medium",
    "low_adherence": "medium", "phq9_high": "medium", "gad7_high": "medium", "bam_risk": "medium",
    "bam_use": "medium", "low_attendance": "medium",
}


@pytest.mark.parametrize("records, arguments, expected", [row[1:] for row in RULES if row[3]],
                         ids=[row[0] for row in RULES if row[3]])
def test_each_reason_carries_its_rules_level_and_sets_the_patients_level(records, arguments, expected):
    risk = assess_risk(records, TODAY, **arguments)

    assert [reason.level for reason in risk.reasons] == [LEVELS[code] for code in expected]
    worst = "high" if "high" in (LEVELS[code] for code in expected) else "medium"
    assert risk.level == worst


def test_a_patient_with_no_reason_is_low_risk():
    risk = assess_risk(daily(13), TODAY, in_treatment_since=ago(30))

    assert risk.to_dict() == {"level": "low", "reasons": []}


def test_the_level_is_the_worst_reason_and_every_reason_is_listed():
    records = daily(10, 3)  # quiet for 3 days: medium
    risk = assess_risk(records, TODAY, self_harm_days=[ago(5)], latest_scores=phq9(16),
                       attendance_rate=50.0, attended_sessions=4)

    assert risk.level == "high"
    assert codes(risk) == ["self_harm", "quiet", "phq9_high", "low_attendance"]
    assert [reason.level for reason in risk.reasons] == ["high", "medium", "medium", "medium"]


def test_several_medium_reasons_stay_medium():
    risk = assess_risk(daily(10, 3), TODAY, latest_scores={**phq9(20), **gad7(18)})

    assert (risk.level, codes(risk)) == ("medium", ["quiet", "phq9_high", "gad7_high"])


@pytest.mark.parametrize("metric, values, expected", [
    ("craving", [1, 2, 3, 4, 5, 6], ["craving_worsening"]),  # rising craving is worse
    ("craving", [6, 5, 4, 3, 2, 1], []),
    ("mood", [8, 7, 6, 5, 4, 3], ["mood_worsening"]),  # falling mood is worse
    ("mood", [3, 4, 5, 6, 7, 8], []),
    ("sleep_hours", [9, 8, 7, 6, 5, 4], []),  # sleep has no worsening rule, only short nights
])
def test_a_worsening_craving_or_mood_slope_is_a_medium_reason(metric, values, expected):
    records = [checkin(5 - i, **{metric: value}) for i, value in enumerate(values)]

    risk = assess_risk(records, TODAY)

    assert codes(risk) == expected
    assert risk.level == ("medium" if expected else "low")


def test_reasons_say_what_was_seen_and_when():
    risk = assess_risk([checkin(1, craving=9), checkin(0, craving=8, used_substance=True)], TODAY,
                       self_harm_days=[ago(3), ago(9)], latest_scores=phq9(17, item9=2))

    assert [reason.to_dict() for reason in risk.reasons] == [
        {"code": "self_harm", "level": "high", "text": "Self-harm thoughts reported on 2026-11-20"},
        {"code": "phq9_item9", "level": "high", "text": "PHQ-9 item 9 answered 2 on 2026-11-20"},
        {"code": "recent_use", "level": "high", "text": "Use reported on 1 of the last 7 days"},
        {"code": "craving_spike", "level": "high", "text": "Craving 8+ on 2026-11-22 and 2026-11-23"},
        {"code": "phq9_high", "level": "medium", "text": "PHQ-9 17 on 2026-11-20"},
    ]


def test_check_ins_after_today_are_not_counted():
    risk = assess_risk([checkin(1), checkin(0), checkin(-1, used_substance=True, craving=10),
                        checkin(-2, craving=10)], TODAY)

    assert risk.to_dict() == {"level": "low", "reasons": []}
