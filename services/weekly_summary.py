"""A patient's week in figures: what the weekly e-mail tells, and what the week page its link opens shows.

One function builds it for both (summarise_weeks), so the page a patient
opens from the e-mail shows the figures the e-mail carried (or, for a
"notice" e-mail, would have carried), computed by services.summaries.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select

from models import CopingSkill, PatientProfile, Role, User, db

from .access import require_role
from .assessments import due_assessments
from .days import local_today
from .errors import InvalidInput, NotAllowed
from .goals import goals_by_patient
from .history import weekly_histories
from .instruments import INSTRUMENTS
from .summaries import WeeklySummary, build_weekly_summary, iso_week, week_start_of_period

K = TypeVar("K")


def skill_labels(organization_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """Return each organization's coping-skill labels by code, in one statement."""
    labels: dict[int, dict[str, str]] = defaultdict(dict)
    ids = set(organization_ids)
    if not ids:
        return labels
    for organization_id, code, label in db.session.execute(
        select(CopingSkill.organization_id, CopingSkill.code, CopingSkill.label)
        .where(CopingSkill.organization_id.in_(ids))
    ):
        labels[organization_id][code] = label
    return labels


def summarise_weeks(wanted: Mapping[K, tuple[User, date]], now: datetime) -> dict[K, WeeklySummary]:
    """Build each wanted (patient, Monday) summary, by the caller's key, loading every history at once."""
    if not wanted:
        return {}
    patients = {user.id: user for user, _week in wanted.values()}
    ids = list(patients)
    earliest = min(week for _user, week in wanted.values())
    histories = weekly_histories(ids, earliest)
    goals = goals_by_patient(ids, earliest)
    labels = skill_labels({user.organization_id for user in patients.values()})
    due = {patient_id: [INSTRUMENTS[order.instrument].name for order in due_assessments(user, now).due]
           for patient_id, user in patients.items()}
    summaries = {}
    for key, (user, week_start) in wanted.items():
        history = histories.get(user.id)
        summaries[key] = build_weekly_summary(
            history.records if history else [], week_start,
            recovery_start=_profile(user).recovery_start_date, goals=goals.get(user.id, []),
            questionnaires_due=due[user.id], skill_labels=labels.get(user.organization_id, {}),
            earlier=history.earlier if history else None,
        )
    return summaries


def my_weekly_summary(patient: User, period: str | None, now: datetime) -> dict[str, Any]:
    """Return the patient's summary of one ISO week (default: last week), as the weekly e-mail tells it."""
    require_role(patient, Role.patient)
    today = local_today(now, _profile(patient).timezone)
    if period is None:
        week_start = today - timedelta(days=today.weekday() + 7)
    else:
        try:
            week_start = week_start_of_period(period)
        except ValueError:
            raise InvalidInput("That is not an ISO week.", {"week": ["Use an ISO week such as 2026-W47."]}) from None
        if week_start > today:
            raise InvalidInput("That week has not begun.", {
                "week": [f"Use this week ({iso_week(today)}) or an earlier one."]})
    return summary_document(summarise_weeks({patient.id: (patient, week_start)}, now)[patient.id])


def summary_document(summary: WeeklySummary) -> dict[str, Any]:
    """Return a weekly summary as the API shows it."""
    document = asdict(summary)
    document["metrics"] = [{**asdict(metric), "label": metric.label} for metric in summary.metrics]
    document["skills_practised"] = [{"label": label, "days": days} for label, days in summary.skills_practised]
    return document


def _profile(patient: User) -> PatientProfile:
    # Every patient account has a profile (they are made together); anyone else has no week to sum up.
    if patient.patient_profile is None:
        raise NotAllowed("Only patients have a weekly summary.")
    return patient.patient_profile
