"""Writing a phone's offline queue of check-ins.

A phone that was offline sends its days at once. Each day is decided as a
PUT of its own would decide it (services/checkins.py), so one refusal spoils
no other; distinct days are written with a fixed number of statements.
"""
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from models import Checkin, User, db
from models.base import savepoint
from models.caseload import lock_patient

from .checkin_alerts import CheckinRules
from .checkins import (
    Desk,
    apply_edits,
    check_day_and_codes,
    content_of,
    edit_outcome,
    insert_days,
    normalise_content,
    refuse_new_day,
    write_day,
)
from .crisis import checkin_crisis_resources
from .errors import DomainError


@dataclass(frozen=True)
class SyncResult:
    """What became of one day of an offline queue."""

    day: date
    outcome: str  # created, updated, unchanged or refused
    checkin: Checkin | None = None
    error: DomainError | None = None
    crisis_resources: dict[str, Any] | None = None


@dataclass
class _QueuedDay:
    day: date
    content: dict[str, Any]
    if_match: list[str] | None
    outcome: str = "refused"
    checkin: Checkin | None = None
    previous: dict[str, Any] | None = None
    error: DomainError | None = None

    def written(self) -> Checkin:
        """Return the day's check-in: every outcome but refused has one."""
        if self.checkin is None:
            raise ValueError(f"{self.day} has no check-in (outcome {self.outcome})")
        return self.checkin


def sync_checkins(patient: User, queue: list[dict[str, Any]], now: datetime) -> list[SyncResult]:
    """Write an offline queue of days, each on its own: one refusal spoils no other.

    Each entry is {"date", "base_version" (optional), ...content}. Entries are
    written in the order given, with the outcome and the alerts each would
    have had as a PUT of its own; distinct days are written in one go.
    """
    queued = []
    for entry in queue:
        entry = dict(entry)
        day = entry.pop("date")
        base_version = entry.pop("base_version", None)
        queued.append(_QueuedDay(day, entry, None if base_version is None else [str(base_version)]))
    if not queued:
        return []
    # Before any day is read or written: another request of the patient's
    # (a second phone's sync) writes its days after this one, not among them.
    lock_patient(patient.id)
    if len({item.day for item in queued}) == len(queued):
        results = _sync_together(patient, queued, now)
        if results is not None:
            return results
    return _sync_one_by_one(patient, queued, now)


def _sync_one_by_one(patient: User, queued: list[_QueuedDay], now: datetime) -> list[SyncResult]:
    """Write the days one at a time, each in a savepoint: a queue naming a day twice, or a lost race."""
    results = []
    for item in queued:
        nested = savepoint()
        try:
            write = write_day(patient, item.day, item.content, item.if_match, now)
        except DomainError as error:
            nested.rollback()
            results.append(SyncResult(item.day, "refused", error=error))
        else:
            nested.commit()
            results.append(SyncResult(item.day, write.outcome, checkin=write.checkin,
                                      crisis_resources=write.crisis_resources))
    return results


def _sync_together(patient: User, queued: list[_QueuedDay], now: datetime) -> list[SyncResult] | None:
    """Write distinct days with a fixed number of statements; None if another writer got in the way.

    Each day is decided as a PUT of its own would decide it (the days are
    distinct, so no day's outcome depends on another's); then the new days
    go in one INSERT, the revisions in another, and the alert rules judge
    each written day in queue order over the history as it stood then.
    """
    desk = Desk.of(patient, now)
    nested = savepoint()
    days = [item.day for item in queued]
    existing = {checkin.day: checkin for checkin in db.session.scalars(
        select(Checkin).where(Checkin.patient_id == patient.id, Checkin.day.in_(days))
        .with_for_update().execution_options(populate_existing=True)
    )}
    rules = CheckinRules(patient, desk.organization, now, days)
    # The history with the catalogue, if any day names a coping skill (one statement).
    checks_codes = any(item.content.get("coping_skills") for item in queued)
    desk.know_skills(rules.load_history(skills_of=desk.organization.id if checks_codes else None))
    for item in queued:
        try:
            item.content = normalise_content(item.content)
            check_day_and_codes(desk, item.day, item.content)
            item.checkin = existing.get(item.day)
            if item.checkin is None:
                refuse_new_day(desk, item.day, item.if_match)
                item.outcome = "created"
            else:
                item.outcome = edit_outcome(desk, item.checkin, item.content, item.if_match)
        except DomainError as error:
            item.outcome, item.checkin, item.error = "refused", None, error
    # In day order: two writers inserting the same days take their locks in the same order.
    new_days = sorted((item.day, item.content) for item in queued if item.outcome == "created")
    created = insert_days(desk, new_days) if new_days else {}
    if len(created) != len(new_days):
        nested.rollback()  # one of the days appeared meanwhile: go day by day
        return None
    edits = []
    for item in queued:
        if item.outcome == "created":
            item.checkin = created[item.day]
        elif item.outcome == "updated":
            item.previous = content_of(item.written())
            edits.append((item.written(), item.content))
    if edits:
        apply_edits(desk, edits)
    for item in queued:
        if item.outcome in ("created", "updated"):
            rules.judge(item.written(), item.previous)
    nested.commit()
    return [
        SyncResult(item.day, "refused", error=item.error) if item.error is not None else
        SyncResult(item.day, item.outcome, checkin=item.checkin,
                   crisis_resources=checkin_crisis_resources(patient, item.written(), desk.organization))
        for item in queued
    ]
