"""Recording daily check-ins.

A phone is offline, retries, and may hold a stale copy; so writing a day is
an upsert keyed by (patient, local day), an identical rewrite changes
nothing, and changing an existing day needs the version it was based on.
The steps of a write are public because an offline queue
(services/checkin_sync.py) decides and writes its days with the same steps;
pages of check-ins are read in services/checkin_reads.py.
"""
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import BindParameter, Table, TextClause, TextualSelect, bindparam, insert, select, text, update
from sqlalchemy.orm.attributes import set_committed_value

from models import Alert, Checkin, CheckinRevision, Organization, PatientProfile, User, db
from models.base import begin_writing
from models.caseload import lock_patient
from models.driver_sql import driver_statement

from .checkin_alerts import ACTIVE_SKILL_CODES, CheckinRules
from .crisis import checkin_crisis_resources
from .days import local_today
from .errors import CheckinLocked, InvalidInput, StaleVersion, VersionRequired

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
    crisis_resources: dict[str, Any] | None = None
    alerts: tuple[Alert, ...] = ()  # raised or repeated by this write

    @property
    def created(self) -> bool:
        return self.outcome == "created"

    def __getattr__(self, name: str) -> Any:
        # A write serialises as the check-in it wrote, plus crisis_resources.
        if name == "checkin":
            raise AttributeError(name)
        return getattr(self.checkin, name)


def _forward_checkin_columns() -> None:
    """Give CheckinWrite a property for each column of the check-in, read from the check-in it wrote.

    The answer to a write reads each of its values through the write:
    through __getattr__ alone, each read first failed the write's own
    lookup, an AttributeError raised and caught for every value.
    """
    def forwarded(name: str) -> property:
        return property(lambda write: getattr(write.checkin, name))

    for column in Checkin.__mapper__.column_attrs:
        setattr(CheckinWrite, column.key, forwarded(column.key))


_forward_checkin_columns()


def normalise_content(content: dict[str, Any]) -> dict[str, Any]:
    """Return the content with every field present and code lists in a stable order.

    Two writes that mean the same (skills in another order, a field left out
    instead of null) compare equal, so a retried write is recognised.
    """
    normalised: dict[str, Any] = {}
    for field in CONTENT_FIELDS:
        value: Any = content.get(field)
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


def content_of(checkin: Checkin) -> dict[str, Any]:
    """Return the patient-written content of a stored check-in."""
    return normalise_content({field: getattr(checkin, field) for field in CONTENT_FIELDS})


def record_checkin(
    patient: User, day: date, content: dict[str, Any], if_match: list[str] | None, now: datetime
) -> CheckinWrite:
    """Write one local day's check-in for the patient (an idempotent upsert).

    if_match is the list of versions the client based its edit on (from the
    If-Match header), ["*"] for any, or None when it sent none. A created or
    changed day goes through the alert rules.
    """
    lock_patient(patient.id)
    return write_day(patient, day, content, if_match, now)


def write_day(patient: User, day: date, content: dict[str, Any], if_match: list[str] | None,
               now: datetime) -> CheckinWrite:
    """Write one day as record_checkin does, under the patient's write lock already taken."""
    desk = Desk.of(patient, now)
    rules = CheckinRules(patient, desk.organization, now, [day])
    if content.get("coping_skills"):
        # The codes are checked against the catalogue before the write: read it
        # with the history the rules judge after the write, in one statement
        # (under the patient's lock, the history stays as read).
        desk.know_skills(rules.load_history(skills_of=desk.organization.id))
    write, previous = _upsert_day(desk, day, content, if_match)
    alerts: list[Alert] = []
    if write.outcome != "unchanged":
        alerts = rules.judge(write.checkin, previous)
    # Built, not dataclasses.replace(), which looks the fields up again on every call.
    return CheckinWrite(write.checkin, write.outcome,
                        checkin_crisis_resources(patient, write.checkin, desk.organization), tuple(alerts))


# Statements of every write, built once; on the tables, not the mapped classes,
# because a statement that names mapped attributes goes through the ORM's
# result machinery on every execution, for rows that are read as plain values.
# Run on the session's connection: Session.execute adds its own dispatch to each.
# (A mapped class's __table__ is a Table; SQLAlchemy types it as the wider FromClause.)
_REVISIONS = cast(Table, CheckinRevision.__table__)
_INSERT_REVISIONS = insert(_REVISIONS)
# The first revisions of new days, run as the driver's SQL (models.driver_sql). inline(): no RETURNING of
# the revisions' ids, which nothing reads.
_INSERT_FIRST_REVISIONS = insert(_REVISIONS).inline()
_REVISION_COLUMNS = ("checkin_id", "version", "content", "recorded_at", "recorded_by_id")
_CHECKINS = cast(Table, Checkin.__table__)
_LOCKED_ROW = select(_CHECKINS).where(
    _CHECKINS.c.patient_id == bindparam("patient_id"), _CHECKINS.c.day == bindparam("day")).with_for_update()
_UPDATE_CHECKIN = update(_CHECKINS).where(_CHECKINS.c.id == bindparam("checkin_id"))


@dataclass
class Desk:
    """What writing a patient's days reads once per request, however many days it writes."""

    patient: User
    profile: PatientProfile
    organization: Organization
    now: datetime
    today: date
    _known_skills: set[str] | None = None

    @classmethod
    def of(cls, patient: User, now: datetime) -> "Desk":
        """Read the patient's profile, organization and local today."""
        profile = patient.patient_profile
        # The relationship, not Session.get: the caller's user comes with its organization loaded,
        # and reading it costs an attribute where Session.get went through its identity lookup.
        organization = patient.organization
        if profile is None or organization is None:
            raise ValueError(f"user {patient.id} is not a patient of an organization")
        return cls(patient, profile, organization, now, local_today(now, profile.timezone))

    def know_skills(self, codes: set[str] | None) -> None:
        """Take the active coping skill codes read along with something else (None: not read)."""
        if codes is not None:
            self._known_skills = codes

    def known_skills(self) -> set[str]:
        """Return the codes of the organization's active coping skills."""
        if self._known_skills is None:
            self._known_skills = set(db.session.scalars(ACTIVE_SKILL_CODES, {"organization_id": self.organization.id}))
        return self._known_skills

    def too_far_back(self, day: date) -> bool:
        """Whether the day is past the organization's late-entry window."""
        return day < self.today - timedelta(days=self.organization.late_entry_days)


def _upsert_day(
    desk: Desk, day: date, content: dict[str, Any], if_match: list[str] | None
) -> tuple[CheckinWrite, dict[str, Any] | None]:
    """Write the day; return the write and the content it replaced (None unless updated)."""
    content = normalise_content(content)
    check_day_and_codes(desk, day, content)
    if if_match is None and not desk.too_far_back(day):
        # Most writes are a new day: try the insert first, one statement instead of a read and an insert.
        created = insert_days(desk, [(day, content)])
        if created:
            return CheckinWrite(created[day], "created"), None
        # The day exists (or another request wrote it a moment ago): an edit of it.
        existing = _locked_row(desk.patient.id, day)
    else:
        existing = _locked_row(desk.patient.id, day)
        if existing is None:
            refuse_new_day(desk, day, if_match)
    if existing is None:
        # Not reached: the insert found the day taken, and a write that may not create one was refused.
        raise ValueError(f"the check-in of {day} was neither written nor found")
    outcome = edit_outcome(desk, existing, content, if_match)
    if outcome == "unchanged":
        return CheckinWrite(existing, "unchanged"), None
    previous = content_of(existing)
    apply_edits(desk, [(existing, content)])
    return CheckinWrite(existing, "updated"), previous


def refuse_new_day(desk: Desk, day: date, if_match: list[str] | None) -> None:
    """Raise if a day with no check-in may not be created by this write."""
    # If-Match: * too: it asks for an edit of a current check-in, never a
    # creation (RFC 9110 13.1.1), so a day with none answers 412.
    if if_match is not None:
        raise StaleVersion("There is no check-in for this day to match the version you sent.")
    if desk.too_far_back(day):
        days = desk.organization.late_entry_days
        raise InvalidInput(
            "This day is too far back to fill in.",
            {"date": [f"Days more than {days} days back cannot be filled in."]},
        )


def edit_outcome(desk: Desk, existing: Checkin, content: dict[str, Any], if_match: list[str] | None) -> str:
    """Return "unchanged" or "updated" for a write over an existing day, or raise the refusal."""
    if content_of(existing) == content:
        return "unchanged"
    hours = desk.organization.edit_window_hours
    if desk.now >= existing.created_at + timedelta(hours=hours):
        raise CheckinLocked(
            f"This day's check-in was recorded more than {hours} hours ago "
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
    return "updated"


def apply_edits(desk: Desk, edits: list[tuple[Checkin, dict[str, Any]]]) -> None:
    """Change existing days to their new content, each with its revision.

    One UPDATE for all the days, on the table: the rows were read under
    their lock, so the new values are known, and the ORM's flush of a
    changed row was the largest cost of an edit. The objects take the
    values as stored (nothing of theirs is left to flush).
    """
    changes = [{"checkin_id": existing.id, **content, "version": existing.version + 1, "updated_at": desk.now}
               for existing, content in edits]
    revisions = [{"checkin_id": change["checkin_id"], "version": change["version"], "content": content,
                  "recorded_at": desk.now, "recorded_by_id": desk.patient.id}
                 for change, (_existing, content) in zip(changes, edits, strict=True)]
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        # Each UPDATE with its revision in one statement: a round trip to the server fewer.
        driver_statement(connection, _edit_with_revision()).execute(
            connection, *({**change, **revision} for change, revision in zip(changes, revisions, strict=True)))
    else:
        connection.execute(_UPDATE_CHECKIN, changes)
        connection.execute(_INSERT_REVISIONS, revisions)
    for (existing, _content), change in zip(edits, changes, strict=True):
        for field, value in change.items():
            if field != "checkin_id":
                set_committed_value(existing, field, value)


def check_day_and_codes(desk: Desk, day: date, content: dict[str, Any]) -> None:
    """Raise InvalidInput naming every problem: a day in the future, unknown coping skill codes."""
    errors: dict[str, list[str]] = {}
    if day > desk.today:
        errors["date"] = ["Is in the future for your time zone."]
    if content["coping_skills"]:
        known = desk.known_skills()
        unknown = [code for code in content["coping_skills"] if code not in known]
        if unknown:
            errors["coping_skills"] = [
                f"Unknown coping skill code {code!r}; add it as a custom entry instead." for code in unknown
            ]
    if errors:
        raise InvalidInput("The check-in has invalid fields.", errors)


def _locked_row(patient_id: int, day: date) -> Checkin | None:
    # Concurrent writers of one day queue here instead of both reading
    # version n: FOR UPDATE on PostgreSQL, the write lock first on SQLite.
    # Read on the table and built as insert_days builds its rows (not in
    # the session): the ORM's loading cost more than the read.
    begin_writing()
    row = db.session.connection().execute(_LOCKED_ROW, {"patient_id": patient_id, "day": day}).one_or_none()
    return None if row is None else _stored_checkin(row._mapping)


def insert_days(desk: Desk, days: list[tuple[date, dict[str, Any]]]) -> dict[date, Checkin]:
    """Insert the days (with their first revisions) unless they exist; return the new rows by day.

    One INSERT for all the days, RETURNING the id and day of each row it
    wrote, and one for their revisions; on PostgreSQL both in one statement,
    one round trip to the server fewer. A day another writer got to first is
    left out. The new rows are built from the values written rather than
    read back: loading them through the ORM was the largest cost of a write.
    They are not in the session (nothing of theirs is left to flush).
    """
    rows = [dict(patient_id=desk.patient.id, day=day, late=day < desk.today, version=1,
                 created_at=desk.now, updated_at=desk.now, **content) for day, content in days]
    connection = db.session.connection()
    together = connection.dialect.name == "postgresql"
    statement, parameter_names = _insert_checkins(len(rows), with_first_revisions=together)
    parameters = {name: row[column]
                  for row, names in zip(rows, parameter_names, strict=True) for column, name in names.items()}
    if together:
        parameters.update({f"revision_{number}": content for number, (_day, content) in enumerate(days)},
                          recorded_at=desk.now, recorded_by_id=desk.patient.id)
    written = {row["day"]: row for row in rows}
    form = driver_statement(connection, statement)
    read_day = form.result_processors[1] or (lambda day: day)  # SQLite gives the day back as text
    created = {}
    for checkin_id, returned_day in form.execute(connection, parameters):
        day = read_day(returned_day)
        created[day] = _stored_checkin({"id": checkin_id, **written[day]})
    if created and not together:
        contents = dict(days)
        driver_statement(connection, _INSERT_FIRST_REVISIONS, _REVISION_COLUMNS).execute(connection, *(
            {"checkin_id": checkin.id, "version": 1, "content": contents[day], "recorded_at": desk.now,
             "recorded_by_id": desk.patient.id}
            for day, checkin in created.items()
        ))
    return created


_NEW_CHECKIN = Checkin.__mapper__.class_manager.new_instance


def _stored_checkin(values: Mapping[Any, Any]) -> Checkin:
    """Build a check-in, outside the session, from the values of its stored row.

    As a load builds one: the values go straight into the object's state,
    where the constructor would fire an attribute event for each field.
    """
    checkin = cast(Checkin, _NEW_CHECKIN())
    checkin.__dict__.update(values)
    return checkin


@cache
def _insert_checkins(count: int, with_first_revisions: bool = False) -> tuple[TextualSelect, list[dict[str, str]]]:
    """Return INSERT ... ON CONFLICT DO NOTHING RETURNING id, day for count days, and its parameter names.

    Written as text (the same on SQLite and PostgreSQL) because SQLAlchemy
    cannot cache the compiled form of its own ON CONFLICT construct: that
    cost a compilation per write. Parameters are named <column>_<row>; the
    names come back as one {column: parameter} per row.

    with_first_revisions (PostgreSQL only: SQLite has no INSERT inside WITH):
    the same INSERT inside a WITH that also inserts version 1's revision of
    each row it wrote, matched by day, and still answers id, day. It binds
    revision_<row> (the content as written), recorded_at and recorded_by_id
    as well.
    """
    table = cast(Table, Checkin.__table__)
    columns = [column for column in table.c if column.name != "id"]
    names = [{column.name: f"{column.name}_{number}" for column in columns} for number in range(count)]
    rows = [f"({', '.join(f':{name}' for name in row.values())})" for row in names]
    sql = (f"INSERT INTO {table.name} ({', '.join(column.name for column in columns)}) "  # noqa: S608 - names from the model, values bound
           f"VALUES {', '.join(rows)} ON CONFLICT (patient_id, day) DO NOTHING RETURNING id, day")
    parameters = [bindparam(f"{column.name}_{number}", type_=column.type)
                  for number in range(count) for column in columns]
    if with_first_revisions:
        # A sub-statement's RETURNING rows are all the revisions' INSERT sees of
        # the new check-ins; every part of a WITH runs to its end, and the
        # foreign key is checked at the end of the whole statement.
        revisions = _REVISIONS.c
        contents = ", ".join(f"(CAST(:day_{number} AS DATE), CAST(:revision_{number} AS JSON))"
                             for number in range(count))
        sql = (f"WITH written AS ({sql}), first_revisions AS ("  # noqa: S608 - names from the model, values bound
               f"INSERT INTO {_REVISIONS.name} ({', '.join(_REVISION_COLUMNS)}) "
               f"SELECT written.id, 1, contents.content, {_RECORDED} "
               f"FROM written JOIN (VALUES {contents}) AS contents (day, content) ON contents.day = written.day) "
               "SELECT id, day FROM written")
        parameters += [bindparam(f"revision_{number}", type_=revisions.content.type) for number in range(count)]
        parameters += _recorded_parameters()
    return text(sql).bindparams(*parameters).columns(table.c.id, table.c.day), names


@cache
def _edit_with_revision() -> TextClause:
    """Return the UPDATE of one check-in inside a WITH that inserts its revision (PostgreSQL only).

    Binds checkin_id, the content fields, version and updated_at as
    _UPDATE_CHECKIN does, and content (the content as written),
    recorded_at and recorded_by_id. The revision is inserted only for the
    row the UPDATE changed, with the version the UPDATE wrote.
    """
    table = cast(Table, Checkin.__table__)
    changed = (*CONTENT_FIELDS, "version", "updated_at")
    revisions = _REVISIONS.c
    sql = (f"WITH changed AS (UPDATE {table.name} SET {', '.join(f'{name} = :{name}' for name in changed)} "  # noqa: S608 - names from the model, values bound
           "WHERE id = :checkin_id RETURNING id, version) "
           f"INSERT INTO {_REVISIONS.name} ({', '.join(_REVISION_COLUMNS)}) "
           f"SELECT changed.id, changed.version, CAST(:content AS JSON), {_RECORDED} FROM changed")
    return text(sql).bindparams(
        *[bindparam(name, type_=table.c[name].type) for name in changed],
        bindparam("checkin_id", type_=table.c.id.type), bindparam("content", type_=revisions.content.type),
        *_recorded_parameters())


# A revision's time and author as both statements above select them: typed,
# since a parameter in a SELECT list has no column to take its type from.
_RECORDED = "CAST(:recorded_at AS TIMESTAMP WITH TIME ZONE), CAST(:recorded_by_id AS INTEGER)"


def _recorded_parameters() -> list[BindParameter[Any]]:
    return [bindparam("recorded_at", type_=_REVISIONS.c.recorded_at.type),
            bindparam("recorded_by_id", type_=_REVISIONS.c.recorded_by_id.type)]
