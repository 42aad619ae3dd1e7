"""The check-in rules' hook: raise what a written check-in makes true that its previous version did not.

Call it right after the write, before the commit; services.alerts says when a
check-in raises a rule and how an alert is raised.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, null, select, union_all

from models import Alert, Checkin, CheckinRevision, CopingSkill, Organization, User, db

from .access import own_profile
from .alert_rules import (
    CRAVING_SPIKE,
    MOOD_WORSENING,
    SELF_HARM,
    SHORT_SLEEP,
    SUBSTANCE_USE,
    checkin_findings,
    thresholds,
)
from .alerts import raise_alert
from .days import local_today
from .trends import SLOPE_DAYS, DayRecord

CHECKIN_RULES = (SELF_HARM, SUBSTANCE_USE, CRAVING_SPIKE, MOOD_WORSENING, SHORT_SLEEP)
_FROM_REVISIONS = object()


def alerts_after_checkin(patient: User, checkin: Checkin, now: datetime, previous: Any = _FROM_REVISIONS,
                         organization: Organization | None = None) -> list[Alert]:
    """Raise what a newly written check-in (created or changed) makes true; flushes only.

    previous is the content of the version before (None for a new day);
    left out, it is read from the check-in's revisions.
    """
    if previous is _FROM_REVISIONS:
        previous = _previous_content(checkin)
    organization = organization or db.session.get(Organization, patient.organization_id)
    return CheckinRules(patient, organization, now, [checkin.day]).judge(checkin, previous)


# What the check-in rules read of a patient's history, built once: only the
# columns a rule looks at (alert_rules reads no skill list and no lateness, and
# decoding each day's JSON list was a tenth of a check-in write). On the
# table's columns, run on the session's connection: the ORM's result
# machinery and Session.execute's dispatch would cost more than the read.
_HISTORY = Checkin.__table__.c
_RULES_HISTORY = select(
    _HISTORY.day, _HISTORY.craving, _HISTORY.mood, _HISTORY.sleep_hours, _HISTORY.used_substance,
).where(_HISTORY.patient_id == bindparam("patient_id"), _HISTORY.day >= bindparam("since"))
# The codes of an organization's active coping skills: what a check-in's codes are checked against.
_SKILLS = CopingSkill.__table__.c
ACTIVE_SKILL_CODES = select(_SKILLS.code).where(
    _SKILLS.organization_id == bindparam("organization_id"), _SKILLS.active.is_(True))
# The history read with those codes after the days (day NULL, code set): a
# write that checks codes reads both in one statement, as each statement cost
# more than its rows.
_RULES_HISTORY_AND_SKILLS = union_all(
    _RULES_HISTORY.add_columns(null().label("code")),
    ACTIVE_SKILL_CODES.with_only_columns(null(), null(), null(), null(), null(), _SKILLS.code),
)


class CheckinRules:
    """The check-in rules over one request's writes of one patient's days.

    The history the rules read is loaded once, then kept current in memory as
    each written day is judged, in the order written: every day meets the
    history it would have met had the days come one request at a time, and
    a sync of many days costs one load instead of one per day. Likewise the
    rules' latest alerts (which sources they took into account) are read once
    and followed as this request raises them.
    """

    def __init__(self, patient: User, organization: Organization | None, now: datetime, days: Iterable[date]):
        self.patient = patient
        self.now = now
        self.today = local_today(now, own_profile(patient).timezone)
        self.limits = thresholds(organization)
        self._since = min(self.today - timedelta(days=SLOPE_DAYS),
                          min(days) - timedelta(days=self.limits["craving_baseline_days"] + 1))
        self._by_day: dict[date, DayRecord] | None = None
        self._latest: dict[str, tuple[dict[str, Any], datetime]] | None = None

    def load_history(self, skills_of: int | None = None) -> set[str] | None:
        """Read the check-ins the rules look at, before the writes (under the patient's write lock).

        With skills_of, read the codes of that organization's active coping
        skills in the same statement, and return them.
        """
        if skills_of is None:
            self._by_day = self._read_history()
            return None
        self._by_day, skills = {}, set()
        # all(): the rows in one fetch from the driver, where iterating the result fetched them one by one.
        for day, *record, code in db.session.connection().execute(
                _RULES_HISTORY_AND_SKILLS,
                {"patient_id": self.patient.id, "since": self._since, "organization_id": skills_of}).all():
            if day is None:
                skills.add(code)
            else:
                self._by_day[day] = DayRecord(day, *record)
        return skills

    def judge(self, checkin: Checkin, previous: dict[str, Any] | None) -> list[Alert]:
        """Raise what the written check-in makes true that its previous version (None: none) did not."""
        if self._by_day is None:
            self._by_day = self._read_history()
        after = self._by_day
        # float(): as a read would give it back (SQLite's RETURNING may hand back 3 for a stored 3.0).
        after[checkin.day] = DayRecord(
            day=checkin.day, craving=checkin.craving, mood=checkin.mood, sleep_hours=float(checkin.sleep_hours),
            used_substance=checkin.used_substance, coping_skills=tuple(checkin.coping_skills or ()),
            late=checkin.late,
        )
        # A day before the slope's window leaves the mood trend as it was: it cannot raise it.
        mood_trend = checkin.day > self.today - timedelta(days=SLOPE_DAYS)
        holds = checkin_findings(after, checkin.day, checkin.self_harm_thoughts, self.today, self.limits,
                                 checkin.substances or (), mood_trend=mood_trend)
        if not holds:
            return []  # most days: nothing holds, so nothing is new, whatever held before
        before = dict(after)
        if previous is None:
            before.pop(checkin.day, None)
        else:
            before[checkin.day] = DayRecord(
                day=checkin.day, craving=previous["craving"], mood=previous["mood"],
                sleep_hours=previous["sleep_hours"], used_substance=previous["used_substance"],
                coping_skills=tuple(previous.get("coping_skills") or ()), late=checkin.late,
            )
        held = checkin_findings(before, checkin.day, (previous or {}).get("self_harm_thoughts"), self.today,
                                self.limits, mood_trend=mood_trend)
        new = [finding for rule, finding in holds.items() if rule not in held]
        if not new:
            return []
        source = f"checkin:{checkin.id}:v{checkin.version}"
        latest = self._latest_alerts()
        # As services.alerts does for each rule: the rules that already took account of this source.
        seen = {rule for rule, (evidence, triggered_at) in latest.items()
                if evidence.get("source") == source or triggered_at > checkin.updated_at}
        raised = []
        for finding in new:
            if finding.rule in seen:
                continue
            evidence = {**finding.evidence, "source": source}
            raised.append(raise_alert(self.patient, finding.rule, finding.severity, finding.summary, evidence,
                                      self.today, self.now))
            latest[finding.rule] = (evidence, self.now)
        return raised

    def _read_history(self) -> dict[date, DayRecord]:
        # The rules' view of each day: what they read, in DayRecord's order (skills and lateness left empty).
        return {
            row[0]: DayRecord(*row)
            for row in db.session.connection().execute(
                _RULES_HISTORY, {"patient_id": self.patient.id, "since": self._since})
        }

    def _latest_alerts(self) -> dict[str, tuple[dict[str, Any], datetime]]:
        """Return each check-in rule's latest alert (evidence, last triggered), read once per request."""
        if self._latest is None:
            self._latest = {}
            for rule, evidence, triggered_at in db.session.execute(
                select(Alert.rule, Alert.evidence, Alert.last_triggered_at)
                .where(Alert.patient_id == self.patient.id, Alert.rule.in_(CHECKIN_RULES))
                .order_by(Alert.id.desc())
            ):
                self._latest.setdefault(rule, (evidence or {}, triggered_at))
        return self._latest


def _previous_content(checkin: Checkin) -> dict[str, Any] | None:
    if checkin.version <= 1:
        return None
    return db.session.scalar(
        select(CheckinRevision.content).where(
            CheckinRevision.checkin_id == checkin.id, CheckinRevision.version == checkin.version - 1,
        )
    )
