"""A patient's risk level and the reasons for it: decision support, never a decision.

Pure: takes the patient's recent check-ins and scores and "today". The rules
mirror the default alert rules of the design (thresholds in RISK_RULES):

high    self-harm thoughts reported in the last 14 days; PHQ-9 item 9 above 0
        on the latest PHQ-9; use reported in the last 7 days; craving >= 8 on
        two days running within the last 7
medium  no check-in for 3 days or more; craving or mood clearly worsening
        (14-day slope, see services.trends); very short sleep (< 4 h) on 3 of
        the last 5 nights; 7-day check-in adherence under 50 %; PHQ-9 >= 15,
        GAD-7 >= 15, BAM risk >= 12 or BAM use >= 1; attendance under 75 %
        over the last 14 days (at least 2 sessions)
low     none of these
"""
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from .trends import DayRecord, EarlierCheckins, adherence, index_checkins, last_checkin, slope

LEVELS = ("low", "medium", "high")
RISK_RULES = {
    "self_harm_days": 14, "use_days": 7, "craving_spike": 8, "quiet_days": 3,
    "short_sleep_hours": 4.0, "short_sleep_nights": 3, "short_sleep_of": 5,
    "low_adherence_percent": 50.0, "phq9_total": 15, "gad7_total": 15, "bam_risk": 12,
    "low_attendance_rate": 75.0,
}


@dataclass(frozen=True)
class Reason:
    code: str
    level: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "level": self.level, "text": self.text}


@dataclass(frozen=True)
class Risk:
    level: str
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @property
    def rank(self) -> int:
        return LEVELS.index(self.level)

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "reasons": [reason.to_dict() for reason in self.reasons]}


def assess_risk(
    records: list[DayRecord], today: date, *, self_harm_days: Iterable[date] = (),
    latest_scores: Mapping[str, Any] | None = None, attendance_rate: float | None = None,
    attended_sessions: int = 0, in_treatment_since: date | None = None,
    recovery_start: date | None = None, earlier: EarlierCheckins | None = None,
) -> Risk:
    """Return the risk level and every reason behind it.

    latest_scores maps an instrument code to {"total", "item9", "subscales":
    {"risk": {"score"}, "use": {"score"}}, "local_day"}; attendance_rate is
    a percent over the last 14 days with attended_sessions behind it.
    records may start 14 days before today when earlier summarises the
    older check-ins (services.trends.EarlierCheckins). in_treatment_since
    (enrolment) and recovery_start decide the days adherence counts, as
    services.trends does for every view of the figure.
    """
    reasons: list[Reason] = []
    recent = {r.day: r for r in records if today - timedelta(days=13) <= r.day <= today}
    indexed = index_checkins(records, today, earlier)  # once for the trend figures below
    scores = latest_scores or {}

    harm = sorted(d for d in self_harm_days if today - timedelta(days=RISK_RULES["self_harm_days"] - 1) <= d <= today)
    if harm:
        reasons.append(Reason("self_harm", "high", f"Self-harm thoughts reported on {harm[-1].isoformat()}"))
    phq9 = scores.get("phq9")
    if phq9 and (phq9.get("item9") or 0) > 0:
        reasons.append(Reason("phq9_item9", "high", f"PHQ-9 item 9 answered {phq9['item9']} on {phq9['local_day']}"))
    use_days = [d for d, r in recent.items() if r.used_substance and d > today - timedelta(days=RISK_RULES["use_days"])]
    if use_days:
        reasons.append(Reason("recent_use", "high", f"Use reported on {len(use_days)} of the last 7 days"))
    spike = _craving_spike(recent, today)
    if spike:
        reasons.append(Reason("craving_spike", "high",
                              f"Craving {RISK_RULES['craving_spike']}+ on {spike[0]} and {spike[1]}"))

    last = last_checkin(indexed, today, earlier=earlier)
    if last is not None and (today - last).days >= RISK_RULES["quiet_days"]:
        reasons.append(Reason("quiet", "medium", f"No check-in for {(today - last).days} days (last {last})"))
    elif last is None and in_treatment_since and (today - in_treatment_since).days >= RISK_RULES["quiet_days"]:
        reasons.append(Reason("quiet", "medium",
                              f"No check-in since enrolment ({(today - in_treatment_since).days} days)"))
    for metric in ("craving", "mood"):
        if slope(indexed, metric, today, earlier=earlier).direction == "worsening":
            reasons.append(Reason(f"{metric}_worsening", "medium", f"{metric.title()} worsening over 14 days"))
    nights = [recent[d].sleep_hours for d in sorted(recent) if d > today - timedelta(days=RISK_RULES["short_sleep_of"])]
    short = sum(1 for hours in nights if hours < RISK_RULES["short_sleep_hours"])
    if short >= RISK_RULES["short_sleep_nights"]:
        reasons.append(Reason("short_sleep", "medium", f"Under 4 h sleep on {short} of the last 5 nights"))
    checkin_share = adherence(indexed, today, 7, recovery_start=recovery_start,
                              in_treatment_since=in_treatment_since, earlier=earlier).percent
    if checkin_share is not None and checkin_share < RISK_RULES["low_adherence_percent"]:
        reasons.append(Reason("low_adherence", "medium", f"Checked in on {checkin_share:.0f} % of the last 7 days"))
    for code, limit, label in (("phq9", RISK_RULES["phq9_total"], "PHQ-9"),
                               ("gad7", RISK_RULES["gad7_total"], "GAD-7")):
        score = scores.get(code)
        if score and score.get("total") is not None and score["total"] >= limit:
            reasons.append(Reason(f"{code}_high", "medium", f"{label} {score['total']} on {score['local_day']}"))
    bam = scores.get("bam")
    if bam:
        subscales = bam.get("subscales") or {}
        if (subscales.get("risk") or {}).get("score", 0) >= RISK_RULES["bam_risk"]:
            reasons.append(Reason("bam_risk", "medium",
                                  f"BAM risk factors {subscales['risk']['score']} on {bam['local_day']}"))
        if (subscales.get("use") or {}).get("score", 0) >= 1:
            reasons.append(Reason("bam_use", "medium", f"BAM reports use on {bam['local_day']}"))
    if attendance_rate is not None and attended_sessions >= 2 and attendance_rate < RISK_RULES["low_attendance_rate"]:
        reasons.append(Reason("low_attendance", "medium", f"Attended {attendance_rate:.0f} % of sessions in 14 days"))

    level = max((reason.level for reason in reasons), key=LEVELS.index, default="low")
    return Risk(level, tuple(reasons))


def _craving_spike(recent: dict[date, DayRecord], today: date) -> tuple[str, str] | None:
    for offset in range(1, 7):  # the most recent pair first
        first, second = today - timedelta(days=offset), today - timedelta(days=offset - 1)
        if all(d in recent and recent[d].craving >= RISK_RULES["craving_spike"] for d in (first, second)):
            return first.isoformat(), second.isoformat()
    return None
