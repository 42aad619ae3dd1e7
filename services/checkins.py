"""Recording and reading daily check-ins.

A phone is offline, retries, and may hold a stale copy; so writing a day is
an upsert keyed by (patient, local day), an identical rewrite changes
nothing, and changing an existing day needs the version it was based on.
"""
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from models import (
    Checkin, CheckinRevision, CopingSkill, Organization, PatientProfile, User, db, savepoint,
)

from .clock import local_today
from .errors import CheckinLocked, DomainError, InvalidInput, StaleVersion, VersionRequired

# The fields a patient writes; everything else on a Checkin is bookkeeping.
CONTENT_FIELDS = (
    "craving", "mood", "sleep_hours", "sleep_quality", "used_substance", "substances",
    "coping_skills", "custom_coping_skills", "triggers", "medication_taken",
    "self_harm_thoughts", "note",
)
_CODE_LISTS = ("substances", "coping_skills", "triggers")


@dataclass(frozen=True)
class CheckinWrite:
    """The outcome of writing one day."""

    checkin: Checkin
    outcome: str  # "created", "updated" or "unchanged"
    # Where to get help now, whenever the day reports self-harm thoughts
    # (a retry too: the phone that lost the first answer must show it).
    crisis_resources: dict | None = None
    alerts: tuple = ()  # raised or repeated by this write

    @property
    def created(self) -> bool:
        return self.outcome == "created"

    def __getattr__(self, name):
        # A write serialises as the check-in it wrote, plus crisis_resources.
        if name == "checkin":
            raise AttributeError(name)
        return getattr(self.checkin, name)


def normalise_content(content: dict) -> dict:
    """Return the content with every field present and code lists in a stable order.

    Two writes that mean the same (skills in another order, a field left out
    instead of null) compare equal, so a retried write is recognised.
    """
    normalised = {}
    for field in CONTENT_FIELDS:
        value = content.get(field)
        if field in _CODE_LISTS or field == "custom_coping_skills":
            value = list(value or [])
        if field in _CODE_LISTS:
            value = sorted(set(value))
        elif field == "custom_coping_skills":
            value = list(dict.fromkeys(v.strip() for v in value if v.strip()))
        elif field == "sleep_hours" and value is not None:
            value = float(value)
        elif field == "note" and value is not None:
            value = value.strip() or None
        normalised[field] = value
    if not normalised["used_substance"]:
        normalised["substances"] = []
    return normalised


def content_of(checkin: Checkin) -> dict:
    """Return the patient-written content of a stored check-in."""
    return normalise_content({field: getattr(checkin, field) for field in CONTENT_FIELDS})


def record_checkin(
    patient: User, day: date, content: dict, if_match: list[str] | None, now: datetime
) -> CheckinWrite:
    """Write one local day's check-in for the patient (an idempotent upsert).

    if_match is the list of versions the client based its edit on (from the
    If-Match header), ["*"] for any, or None when it sent none. A created or
    changed day goes through the alert rules.
    """
    from .alerts import alerts_after_checkin, checkin_crisis_resources  # alerts read check-ins

    write = _upsert_day(patient, day, content, if_match, now)
    alerts = alerts_after_checkin(patient, write.checkin, now) if write.outcome != "unchanged" else []
    return replace(write, crisis_resources=checkin_crisis_resources(patient, write.checkin),
                   alerts=tuple(alerts))


def _upsert_day(
    patient: User, day: date, content: dict, if_match: list[str] | None, now: datetime
) -> CheckinWrite:
    profile: PatientProfile = patient.patient_profile
    organization = db.session.get(Organization, patient.organization_id)
    content = normalise_content(content)
    _check_day_and_codes(profile, organization, day, content, now)

    existing = _locked_row(patient.id, day)
    if existing is None:
        if if_match is not None and if_match != ["*"]:
            raise StaleVersion("There is no check-in for this day to match the version you sent.")
        if day < local_today(now, profile.timezone) - timedelta(days=organization.late_entry_days):
            raise InvalidInput(
                "This day is too far back to fill in.",
                {"date": [f"Days more than {organization.late_entry_days} days back cannot be filled in."]},
            )
        created = _insert_if_absent(patient, profile, day, content, now)
        if created is not None:
            return CheckinWrite(created, "created")
        # Another request wrote the day a moment ago; treat ours as an edit of it.
        existing = _locked_row(patient.id, day)

    if content_of(existing) == content:
        return CheckinWrite(existing, "unchanged")
    if now >= existing.created_at + timedelta(hours=organization.edit_window_hours):
        raise CheckinLocked(
            f"This day's check-in was recorded more than {organization.edit_window_hours} hours ago "
            "and can no longer be changed."
        )
    if if_match is None:
        raise VersionRequired(
            "This day already has a check-in; send If-Match with its ETag to change it."
        )
    if if_match != ["*"] and str(existing.version) not in if_match:
        raise StaleVersion(
            f"The check-in was changed since you read it (now version {existing.version})."
        )
    for field, value in content.items():
        setattr(existing, field, value)
    existing.version += 1
    existing.updated_at = now
    db.session.add(CheckinRevision(
        checkin_id=existing.id, version=existing.version, content=content,
        recorded_at=now, recorded_by_id=patient.id,
    ))
    db.session.flush()
    return CheckinWrite(existing, "updated")


@dataclass(frozen=True)
class SyncResult:
    """What became of one day of an offline queue."""

    day: date
    outcome: str  # created, updated, unchanged or refused
    checkin: Checkin | None = None
    error: DomainError | None = None
    crisis_resources: dict | None = None


def sync_checkins(patient: User, queue: list[dict], now: datetime) -> list[SyncResult]:
    """Write an offline queue of days, each on its own: one refusal spoils no other.

    Each entry is {"date", "base_version" (optional), ...content}. Entries are
    written in the order given.
    """
    results = []
    for entry in queue:
        entry = dict(entry)
        day = entry.pop("date")
        base_version = entry.pop("base_version", None)
        if_match = None if base_version is None else [str(base_version)]
        nested = savepoint()
        try:
            write = record_checkin(patient, day, entry, if_match, now)
        except DomainError as error:
            nested.rollback()
            results.append(SyncResult(day, "refused", error=error))
        else:
            nested.commit()
            results.append(SyncResult(day, write.outcome, checkin=write.checkin,
                                      crisis_resources=write.crisis_resources))
    return results


def list_checkins(
    patient_id: int, day_from: date | None, day_to: date | None, page: int, page_size: int
) -> tuple[list[Checkin], int]:
    """Return one page of a patient's check-ins, newest day first, and the total."""
    if day_from and day_to and day_from > day_to:
        raise InvalidInput("from is after to.", {"from": ["Must not be after 'to'."]})
    conditions = [Checkin.patient_id == patient_id]
    if day_from:
        conditions.append(Checkin.day >= day_from)
    if day_to:
        conditions.append(Checkin.day <= day_to)
    total = db.session.scalar(select(func.count()).select_from(Checkin).where(*conditions))
    checkins = db.session.scalars(
        select(Checkin).where(*conditions).order_by(Checkin.day.desc())
        .limit(page_size).offset((page - 1) * page_size)
    )
    return list(checkins), total


def get_checkin(patient_id: int, day: date) -> Checkin | None:
    """Return the patient's check-in for a day, if there is one."""
    return db.session.scalars(
        select(Checkin).where(Checkin.patient_id == patient_id, Checkin.day == day)
    ).one_or_none()


def _check_day_and_codes(profile, organization, day, content, now) -> None:
    errors = {}
    if day > local_today(now, profile.timezone):
        errors["date"] = ["Is in the future for your time zone."]
    known = set(db.session.scalars(select(CopingSkill.code).where(
        CopingSkill.organization_id == organization.id, CopingSkill.active.is_(True),
    )))
    unknown = [code for code in content["coping_skills"] if code not in known]
    if unknown:
        errors["coping_skills"] = [
            f"Unknown coping skill code {code!r}; add it as a custom entry instead." for code in unknown
        ]
    if errors:
        raise InvalidInput("The check-in has invalid fields.", errors)


def _locked_row(patient_id: int, day: date) -> Checkin | None:
    # FOR UPDATE on PostgreSQL: concurrent writers of one day queue here
    # instead of both reading version n. SQLite writes are serialised already.
    return db.session.scalars(
        select(Checkin).where(Checkin.patient_id == patient_id, Checkin.day == day)
        .with_for_update().execution_options(populate_existing=True)
    ).one_or_none()


def _insert_if_absent(patient, profile, day, content, now) -> Checkin | None:
    """Insert the day unless it exists; return the new row, or None if another writer won."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    late = day < local_today(now, profile.timezone)
    statement = (
        insert(Checkin)
        .values(patient_id=patient.id, day=day, late=late, version=1, created_at=now,
                updated_at=now, **content)
        .on_conflict_do_nothing(index_elements=["patient_id", "day"])
        .returning(Checkin.id)
    )
    new_id = db.session.execute(statement).scalar()
    if new_id is None:
        return None
    db.session.add(CheckinRevision(
        checkin_id=new_id, version=1, content=content, recorded_at=now, recorded_by_id=patient.id,
    ))
    db.session.flush()
    return db.session.get(Checkin, new_id)
