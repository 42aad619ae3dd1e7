"""The caseload: a clinician's patients (an admin's organization), ranked by risk.

A patient's figures take a dozen loaders' rows and half a millisecond of
arithmetic; the care team opens the caseload many times a day, and a
patient writes about once. So each patient's figures are kept in
caseload_rows and recomputed only when stale:

- a write to what they read (check-ins, questionnaire answers, alerts,
  attendance) clears them in the writer's own transaction, by trigger
  (models.caseload), whatever code path wrote;
- so does a change to the patient's profile (zone, enrolment);
- the patient's local day has moved on, or the organization's thresholds
  or the code computing the figures have changed: `as_of` or `inputs` differs.

A reader computes the stale rows it needs, answers with them, and keeps
each one only if its generation is still the one it read: a write that
lands meanwhile wins, never a figure computed before it.
"""
import functools
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, cast
from weakref import WeakKeyDictionary

from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    Integer,
    Select,
    String,
    Table,
    UnaryExpression,
    bindparam,
    case,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.operators import custom_op

from models import CareTeamMember, CaseloadRow, Organization, PatientProfile, Program, Role, User, db
from models.driver_sql import DriverStatement

from .access import require_role
from .alert_inbox import alerts_by_patient, open_alert_counts
from .alert_rules import thresholds
from .assessment_history import latest_scores
from .attendance import attendance_by_patient, recent_attendance
from .days import local_today
from .history import EnrolledPatient, enrolled_on, history_of, recent_checkins
from .risk import LEVELS, RISK_RULES, assess_risk
from .step_up import step_up_flag
from .trends import SLOPE_DAYS, EarlierCheckins, Records, adherence, current_streak, last_checkin, rolling_mean, slope

# Figures computed by other code are stale: a deploy that changes a rule
# must not show what the old rule concluded. Every module of services is
# read, not a list of those computing figures today: a rule that moves to
# another module (as the alert rules did) still counts, and a deploy costs
# one recomputation of each row, which the scheduler's job does ahead of the views.
_FIGURES_CODE = hashlib.sha256(b"".join(
    path.read_bytes() for path in sorted(Path(__file__).parent.rglob("*.py"))
)).hexdigest()

# The organization's thresholds (services.alert_rules.thresholds), which some figures read.
Limits = Mapping[str, int | float]



class CaseloadEntry(NamedTuple):  # a frozen dataclass cost three times as much to build, per row
    """One row of the page: who, live from their records, and the figures as JSON."""

    patient: dict[str, Any]
    level_of_care: str
    program: dict[str, Any] | None
    # The rest of the row (today, last_checkin ... risk), a JSON object.
    figures: str


@dataclass(slots=True)
class _Patient:
    user_id: int
    display_name: str
    timezone: str
    level_of_care: str
    program: dict[str, Any] | None
    today: date
    inputs: str
    generation: int | None  # None: no row to keep figures in (see caseload_rows' trigger)
    figures: str | None
    risk_rank: int | None  # services.risk.LEVELS' index of the level: the kept level is not read
    risk_reasons: int | None
    last_checkin: date | None
    current_streak: int | None


def caseload(actor: User, now: datetime, *, level_of_care: str | None = None, program_id: int | None = None,
             risk: str | None = None,
             sort: str = "risk", page: int = 1, page_size: int = 50,
             check_kept: bool = False) -> tuple[list[CaseloadEntry], int]:
    """Return one page of the actor's caseload, ranked, and the number of rows.

    A clinician sees the patients on their care teams, an admin the whole
    organization. One statement when every row is current; when some are
    stale, the same few more whatever their number. check_kept: recompute
    the rows read as current too, and raise KeptFiguresDiffer where any differs.
    """
    require_role(actor, Role.clinician, Role.admin)
    limits = thresholds(actor.organization)
    clinician_id = actor.id if actor.role is Role.clinician else None
    patients = _caseload_patients(actor.organization_id, clinician_id, now, limits, level_of_care, program_id)
    stale = [patient for patient in patients if patient.figures is None]
    if check_kept:
        _check_kept([patient for patient in patients if patient.figures is not None], now, limits)
    if stale:
        _recompute(stale, now, limits)
    if risk is not None:
        rank = LEVELS.index(risk) if risk in LEVELS else -1
        patients = [patient for patient in patients if patient.risk_rank == rank]
    patients.sort(key=_sort_key(sort))
    start = (page - 1) * page_size
    return [_entry(patient) for patient in patients[start:start + page_size]], len(patients)


def _entry(patient: _Patient) -> CaseloadEntry:
    if patient.figures is None:  # every stale row is recomputed before the page is cut
        raise RuntimeError(f"the caseload row of patient {patient.user_id} has no figures")
    return CaseloadEntry({"id": patient.user_id, "display_name": patient.display_name},
                         patient.level_of_care, patient.program, patient.figures)


def refresh_kept_rows(organization_id: int, now: datetime, batch: int = 200) -> Iterator[int]:
    """Recompute the organization's stale caseload rows ahead of the views, batch by batch.

    For the scheduler: after each zone's midnight every row there is stale,
    and the first clinician to open the caseload would otherwise wait for
    all of them. Yields how many rows each batch recomputed, once they are
    written: the caller commits there, so each batch's rows are kept while
    they are fresh (the rows kept are those no write overtook, as in a view).
    """
    limits = thresholds(db.session.get(Organization, organization_id))
    stale = [patient for patient in _caseload_patients(organization_id, None, now, limits, None, None)
             if patient.figures is None]
    for start in range(0, len(stale), batch):
        _recompute(stale[start:start + batch], now, limits)
        yield len(stale[start:start + batch])


def _caseload_patients(organization_id: int, clinician_id: int | None, now: datetime, limits: Limits,
                       level_of_care: str | None, program_id: int | None) -> list[_Patient]:
    """Return the organization's active patients (those on clinician_id's care teams if given)."""
    connection = db.session.connection()
    statement = _CaseloadStatement.of(
        connection, clinician_id is not None, level_of_care is not None, program_id is not None)
    expected = _inputs(frozenset(limits.items()))
    rows = statement.driver.execute(connection, {
        "organization": organization_id, "clinician": clinician_id,
        "level_of_care": level_of_care, "program": program_id, "inputs": expected}).all()
    todays: dict[str, date] = {}
    programs: dict[int, dict[str, Any]] = {}  # one per program, not per row: the page only reads them
    to_date = statement.to_date
    patients = []
    for (user_id, name, zone, level, program, program_name, generation, figures, as_of,
         risk_rank, risk_reasons, last, streak) in rows:
        if to_date is not None:
            as_of, last = to_date(as_of), to_date(last)
        today = todays.get(zone) or todays.setdefault(zone, local_today(now, zone))
        if as_of != today:
            figures = None
        patients.append(_Patient(
            user_id, name, zone, level,
            None if program is None else programs.get(program) or programs.setdefault(
                program, {"id": program, "name": program_name}),
            today, expected, generation, figures, risk_rank, risk_reasons, last, streak))
    return patients


class _CaseloadStatement(NamedTuple):
    """The caseload's select of one shape for one dialect, run as the driver's SQL (models.driver_sql).

    Executed as a statement, SQLAlchemy worked out its cache key (every join,
    column and condition) and built each row through its processors on every
    view, a tenth of the view. The same conversions run here: the parameters'
    (the level of care's enum) and the dates' where the driver gives text (SQLite).
    """

    driver: DriverStatement
    to_date: Callable[[Any], date | None] | None  # for as_of and last_checkin; None: the driver's are dates

    @staticmethod
    def of(connection: Connection, clinician: bool, by_level_of_care: bool, by_program: bool
           ) -> "_CaseloadStatement":
        shapes = _CASELOAD_STATEMENTS.setdefault(connection.dialect, {})
        shape = (clinician, by_level_of_care, by_program)
        statement = shapes.get(shape)
        if statement is None:
            statement = shapes[shape] = _CaseloadStatement.of_query(_caseload_query(*shape), connection.dialect)
        return statement

    @staticmethod
    def of_query(query: Select[Any], dialect: Dialect) -> "_CaseloadStatement":
        driver = DriverStatement.of(query, dialect)
        # Only the kept days (as_of, last_checkin) may need converting: a column of another
        # type that did would be read unconverted, so it stops the first view instead.
        to_date = None
        for column, process in zip(query.selected_columns, driver.result_processors, strict=True):
            if isinstance(column.type, Date):
                to_date = process
            elif process is not None:
                raise TypeError(f"the caseload reads {column} as the driver gives it, which {dialect.name} converts")
        return _CaseloadStatement(driver, to_date)


# Per dialect (each app's engine has its own): gone with the engine.
_CASELOAD_STATEMENTS: "WeakKeyDictionary[Dialect, dict[tuple[bool, bool, bool], _CaseloadStatement]]" = (
    WeakKeyDictionary())


@functools.cache
def _caseload_query(clinician: bool, by_level_of_care: bool, by_program: bool) -> Select[Any]:
    """Build the select of a caseload's patients with their kept rows once per shape, not per view.

    Each column costs every row of every view: the figures come back null
    where the kept inputs differ (rather than the digest itself), and the
    risk level is its rank's.
    """
    kept = CaseloadRow.__table__.c
    # The level of care as stored (names and values are the same words): no enum per row.
    query = select(PatientProfile.user_id, User.display_name, PatientProfile.timezone,
                   type_coerce(PatientProfile.level_of_care, String), Program.id, Program.name,
                   kept.generation, case((kept.inputs == bindparam("inputs"), kept.figures)), kept.as_of,
                   kept.risk_rank, kept.risk_reasons, kept.last_checkin, kept.current_streak)
    organization: ColumnElement[Any] = User.__table__.c.organization_id
    program: ColumnElement[Any] = PatientProfile.__table__.c.program_id
    if clinician:
        # From the clinician's care teams, each patient looked up by id (a patient is on a
        # clinician's team once: the members' key). The organization and the program are
        # checked on the patient found, not looked up in their indexes ("+"): through them,
        # SQLite walked every patient of the organization or the program, or sought each
        # patient there as well as in the users.
        query = (query.select_from(CareTeamMember)
                 .join(PatientProfile, PatientProfile.user_id == CareTeamMember.patient_id)
                 .where(CareTeamMember.clinician_id == bindparam("clinician")))
        organization, program = _not_by_index(organization), _not_by_index(program)
    query = (
        query.join(User, User.id == PatientProfile.user_id)
        .outerjoin(Program, Program.id == PatientProfile.program_id)
        .outerjoin(CaseloadRow.__table__, kept.patient_id == PatientProfile.user_id)
        .where(organization == bindparam("organization"), User.is_active.is_(True))
    )
    if by_level_of_care:
        query = query.where(PatientProfile.level_of_care == bindparam("level_of_care"))
    if by_program:
        query = query.where(program == bindparam("program"))
    return query


def _not_by_index(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """Return the column under a unary "+": the same value, which no index is used to look up."""
    return UnaryExpression(column, operator=custom_op("+"), type_=Integer)


@functools.lru_cache(maxsize=64)
def _inputs(limits: frozenset[tuple[str, int | float]]) -> str:
    """Digest what the figures depend on besides the patient's records, profile and day.

    Once per set of thresholds, not per view. Keyed by the pairs: thresholds()
    gives each key one type, so 25 and 25.0 never both reach here.
    """
    return hashlib.sha256(f"{_FIGURES_CODE}|{json.dumps(dict(limits), sort_keys=True)}".encode()).hexdigest()


@dataclass(frozen=True)
class _Enrolled:
    user_id: int
    timezone: str
    enrolled_at: datetime
    recovery_start_date: date | None


def _with_enrolment(patients: list[_Patient]) -> list[_Enrolled]:
    """Add when each patient enrolled and began recovery (the days their shares count).

    Read only for figures computed: a view of kept rows needs none.
    """
    enrolled = {user_id: (enrolled_at, recovery_start) for user_id, enrolled_at, recovery_start in db.session.execute(
        select(PatientProfile.user_id, PatientProfile.enrolled_at, PatientProfile.recovery_start_date)
        .where(PatientProfile.user_id.in_([patient.user_id for patient in patients]))).all()}
    return [_Enrolled(patient.user_id, patient.timezone, *enrolled[patient.user_id]) for patient in patients]


class KeptFiguresDiffer(AssertionError):
    """A kept caseload row is not what its patient's records give now: a write left it stale."""


def _check_kept(current: list[_Patient], now: datetime, limits: Limits) -> None:
    if not current:
        return
    computed = caseload_figures(_with_enrolment(current), now, limits)
    differ = [patient.user_id for patient in current
              if _as_json(computed[patient.user_id][0]) != patient.figures]
    if differ:
        raise KeptFiguresDiffer(f"kept caseload figures differ from the records for patients {differ}")


def _as_json(figures: dict[str, Any]) -> str:
    return json.dumps(figures, default=date.isoformat, separators=(",", ":"))


def _recompute(stale: list[_Patient], now: datetime, limits: Limits) -> None:
    """Compute the stale patients' figures in place, and keep them where no write came between."""
    computed = caseload_figures(_with_enrolment(stale), now, limits)
    keep = []
    for patient in stale:
        figures, rank = computed[patient.user_id]
        patient.figures = _as_json(figures)
        patient.risk_rank = rank
        patient.risk_reasons = len(figures["risk"]["reasons"])
        patient.last_checkin, patient.current_streak = figures["last_checkin"], figures["current_streak"]
        if patient.generation is not None:
            keep.append({
                "b_patient": patient.user_id, "b_generation": patient.generation, "b_figures": patient.figures,
                "b_as_of": patient.today, "b_inputs": patient.inputs, "b_risk_level": figures["risk"]["level"],
                "b_risk_rank": rank, "b_risk_reasons": patient.risk_reasons,
                "b_last_checkin": patient.last_checkin, "b_current_streak": patient.current_streak,
            })
    if keep:
        db.session.connection().execute(_KEEP, keep)


_ROW = cast(Table, CaseloadRow.__table__)  # a Table, which update() wants, though typed as any FromClause
_LOCKED_HERE = _ROW.alias("locked")
# Keep a recomputed row only if its generation is the one read: a write
# since (whose trigger bumped it) means the figures may predate it. A row a
# writer holds is skipped, not waited for: it is about to be stale anyway,
# and waiting in a reader's transaction could deadlock a writer of many patients.
_KEEP = update(_ROW).where(
    _ROW.c.patient_id == bindparam("b_patient"),
    _ROW.c.generation == bindparam("b_generation"),
    _ROW.c.patient_id.in_(
        select(_LOCKED_HERE.c.patient_id).where(_LOCKED_HERE.c.patient_id == bindparam("b_patient"))
        .with_for_update(skip_locked=True)),
).values(
    figures=bindparam("b_figures"), as_of=bindparam("b_as_of"), inputs=bindparam("b_inputs"),
    risk_level=bindparam("b_risk_level"), risk_rank=bindparam("b_risk_rank"),
    risk_reasons=bindparam("b_risk_reasons"), last_checkin=bindparam("b_last_checkin"),
    current_streak=bindparam("b_current_streak"),
)


def _sort_key(sort: str) -> Callable[[_Patient], tuple[Any, ...]]:
    # Every patient on a page has figures (kept or just computed): rank, reasons and streak are set.
    # Each key is one expression: a key calls per patient, and helpers it called cost a tenth of the view.
    if sort == "name":
        return lambda patient: (patient.display_name.lower(), patient.user_id)
    if sort == "last_checkin":  # longest silence first, never-checked-in on top
        return lambda patient: (patient.last_checkin is not None, patient.last_checkin or date.min,
                                patient.display_name.lower(), patient.user_id)
    if sort == "streak":
        return lambda patient: (-(patient.current_streak or 0), patient.display_name.lower(), patient.user_id)
    # risk: highest level first, then the most reasons, then the longest silence
    # (never having checked in is the longest silence of all).
    return lambda patient: (-(patient.risk_rank or 0), -(patient.risk_reasons or 0),
                            _NEVER if patient.last_checkin is None else (patient.last_checkin - patient.today).days,
                            patient.display_name.lower(), patient.user_id)


_NEVER = float("-inf")  # the silence of a patient who never checked in, negated as the risk key has it


# --- the figures ----------------------------------------------------------------

def _metric_summary(records: Records, metric: str, today: date,
                    earlier: EarlierCheckins | None = None) -> dict[str, Any]:
    mean = rolling_mean(records, metric, today, 7, earlier=earlier)
    trend = slope(records, metric, today, earlier=earlier)
    return {"value": mean.value, "n": mean.n, "direction": trend.direction, "slope": trend.value,
            "slope_n": trend.n}


def _score_brief(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {
        "total": summary["total"], "band": summary["band"], "item9": summary["item9"],
        "subscales": summary["subscales"], "local_day": summary["local_day"],
        "from_previous": summary["change"]["from_previous"],
        "reliable_change": summary["change"]["reliable_change_previous"],
    }


def caseload_window_days(limits: Limits) -> int:
    """Return how many days of check-ins, to today, every caseload figure reads.

    7-day means and adherence, the 14-day slope, the risk rules' windows
    (services.risk) and the step-up flag's window; the last check-in and
    the current streak reach further and come from EarlierCheckins.
    """
    risk_recent_days = 14  # services.risk: use, craving spikes and short sleep within the last 14 days
    return max(7, SLOPE_DAYS, int(RISK_RULES["self_harm_days"]), risk_recent_days, int(limits["step_up_window_days"]))


def caseload_figures(patients: Sequence[EnrolledPatient], now: datetime,
                     limits: Limits) -> dict[int, tuple[dict[str, Any], int]]:
    """Return each patient's caseload figures and risk rank, computed from their records.

    patients: anything with a profile's user_id, timezone, enrolled_at and recovery_start_date.

    The figures are a caseload row without the live parts (patient,
    level_of_care, program): what the kept rows hold per patient. The
    statements run are the same whatever the number of patients, and only
    the days the figures read are loaded, whatever the history's length.
    """
    if not patients:
        return {}
    ids = [patient.user_id for patient in patients]
    todays = {patient.user_id: local_today(now, patient.timezone) for patient in patients}
    earliest = min(todays.values())
    histories = recent_checkins(ids, earliest - timedelta(days=caseload_window_days(limits) - 1))
    scores = latest_scores(ids)
    alert_counts = open_alert_counts(ids)
    # The step-up flag compares the last two weeks of attendance with the two before.
    step_up_days = 2 * int(limits["step_up_window_days"])
    attendance = attendance_by_patient(ids, earliest - timedelta(days=step_up_days))
    recent_alerts = alerts_by_patient(ids, earliest - timedelta(days=step_up_days))

    figures = {}
    for profile in patients:
        today = todays[profile.user_id]
        history = history_of(histories, profile.user_id)
        records, earlier = history.records, history.earlier
        patient_scores = scores.get(profile.user_id, {})
        sessions = attendance.get(profile.user_id, [])
        attended = recent_attendance(sessions, today)
        # Check-in adherence counts the days trends and the dashboard count
        # (services.trends, "Shares"), the same span the risk rule judges, so
        # every view shows one figure and the reason given never disagrees.
        enrolled, recovery_start = enrolled_on(profile), profile.recovery_start_date
        level = assess_risk(
            records, today, self_harm_days=history.self_harm_days,
            latest_scores={code: {**s, "local_day": s["local_day"].isoformat()} for code, s in patient_scores.items()},
            attendance_rate=attended["rate"], attended_sessions=attended["attended"] + attended["missed"],
            in_treatment_since=enrolled, recovery_start=recovery_start, earlier=earlier,
        )
        last = last_checkin(records, today, earlier=earlier)
        checkin_share = adherence(records, today, 7, recovery_start=recovery_start,
                                  in_treatment_since=enrolled, earlier=earlier)
        step_up = step_up_flag(records, recent_alerts.get(profile.user_id, []), sessions, today, limits)
        counts = alert_counts.get(profile.user_id, {})
        figures[profile.user_id] = ({
            "today": today,
            "last_checkin": last,
            "days_since_last_checkin": (today - last).days if last else None,
            "current_streak": current_streak(records, today, earlier=earlier),
            "means_7": {metric: _metric_summary(records, metric, today, earlier)
                        for metric in ("craving", "mood", "sleep_hours")},
            "adherence_7": {"percent": checkin_share.percent, "days_reported": checkin_share.days_reported,
                            "days_in_window": checkin_share.days_in_window},
            "latest_scores": {code: _score_brief(patient_scores.get(code)) for code in ("phq9", "gad7", "bam")},
            "attendance_14": attended,
            "open_alerts": counts.get("open", 0),
            "urgent_alerts": counts.get("urgent", 0),
            "step_up": step_up.to_dict(),
            "risk": level.to_dict(),
        }, level.rank)
    return figures
