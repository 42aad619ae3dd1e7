"""create_x(...)-style factories that write through the real services."""
from datetime import date, datetime, timezone
from functools import cache

from api.auth import issue_tokens
from models import (
    Alert,
    AlertSeverity,
    AlertStatus,
    AssessmentAssignment,
    AssessmentResponse,
    AttendanceRecord,
    AttendanceStatus,
    CareTeamMember,
    Checkin,
    CheckinRevision,
    Consent,
    ConsentScope,
    LevelOfCare,
    Organization,
    Program,
    Role,
    SessionKind,
    User,
    WeeklyGoal,
    db,
)
from services import accounts
from services.checkins import normalise_content
from services.instruments import get_instrument
from services.passwords import hash_password
from services.scoring import score
from services.sessions import start_session

PASSWORD = "correct horse battery"


@cache
def _password_hash() -> str:
    # argon2 is deliberately slow; hash the shared test password once per run.
    return hash_password(PASSWORD)


def checkin_body(**overrides) -> dict:
    """Return a valid check-in body; overrides replace fields."""
    body = {
        "craving": 3, "mood": 6, "sleep_hours": 7.5, "used_substance": False,
        "coping_skills": ["urge_surfing"], "triggers": ["stress"], "note": "ok day",
    }
    body.update(overrides)
    return body


PROBLEM_TYPE_BASE = "https://waypoint.example/problems/"


def problem(response, status: int) -> dict:
    """Assert that response is an RFC 9457 problem with this status; return its body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"].startswith(PROBLEM_TYPE_BASE) and body["title"]
    return body


def bearer(token: str) -> dict:
    """Return the Authorization header for a raw token."""
    return {"Authorization": f"Bearer {token}"}


LOGIN, REFRESH = "/api/v1/auth/login", "/api/v1/auth/refresh"


def login(client, email: str, password: str = PASSWORD, device_token: str | None = None,
          address: str = "127.0.0.1"):
    """Log in through the API from address (the login limits count per address as well as per account)."""
    body = {"email": email, "password": password}
    if device_token is not None:
        body["device_token"] = device_token
    return client.post(LOGIN, json=body, environ_base={"REMOTE_ADDR": address})


def refresh(client, tokens: dict):
    """Trade the refresh token of a token pair for a new pair."""
    return client.post(REFRESH, headers=bearer(tokens["refresh_token"]))


class Factory:
    def __init__(self, clock):
        self.clock = clock
        self._count = 0

    def _next(self) -> int:
        self._count += 1
        return self._count

    def organization(self, name: str | None = None) -> Organization:
        organization = accounts.get_or_create_organization(name or f"Clinic {self._next()}")
        db.session.commit()
        return organization

    def staff(self, role: Role, organization: Organization | None = None, name: str | None = None) -> User:
        organization = organization or self.organization()
        n = self._next()
        user = User(
            organization_id=organization.id, email=f"{role.value}{n}@example.org",
            display_name=name or f"{role.value.title()} {n}", role=role,
            password_hash=_password_hash(),
        )
        db.session.add(user)
        db.session.commit()
        return user

    def clinician(self, organization=None, name=None) -> User:
        return self.staff(Role.clinician, organization, name)

    def admin(self, organization=None, name=None) -> User:
        return self.staff(Role.admin, organization, name)

    def patient(
        self, clinician: User | None = None, *, organization: Organization | None = None,
        timezone: str = "America/New_York", recovery_start_date: date | None = None,
        level_of_care: LevelOfCare = LevelOfCare.iop, registered: bool = True, name: str | None = None,
    ) -> User:
        """Enrol a patient on clinician's care team (a new clinician if none)."""
        if clinician is None:
            clinician = self.clinician(organization)
        n = self._next()
        profile, _invite = accounts.enrol_patient(clinician, {
            "email": f"patient{n}@example.org", "display_name": name or f"Patient {n}",
            "timezone": timezone, "level_of_care": level_of_care.value,
            "recovery_start_date": recovery_start_date,
        }, self.clock())
        if registered:
            profile.user.password_hash = _password_hash()
        db.session.commit()
        return profile.user

    def add_to_care_team(self, patient: User, clinician: User) -> None:
        db.session.add(CareTeamMember(patient_id=patient.id, clinician_id=clinician.id))
        db.session.commit()

    def checkin(self, patient: User, day: date, **fields) -> Checkin:
        """Store a check-in directly (history, bypassing the edit rules)."""
        content = normalise_content(checkin_body(**fields))
        checkin = Checkin(patient_id=patient.id, day=day, created_at=self.clock(),
                          updated_at=self.clock(), version=1, **content)
        db.session.add(checkin)
        db.session.flush()
        db.session.add(CheckinRevision(checkin_id=checkin.id, version=1, content=content,
                                       recorded_at=self.clock(), recorded_by_id=patient.id))
        db.session.commit()
        return checkin

    def tokens(self, user: User) -> dict:
        """Return a fresh token pair for user, as a login would."""
        tokens = issue_tokens(user)
        start_session(user, tokens["refresh_jti"], self.clock(), tokens["session_id"])
        db.session.commit()
        return tokens

    def headers(self, user: User) -> dict:
        """Return Authorization headers for user."""
        return bearer(self.tokens(user)["access_token"])


# --- questionnaires ------------------------------------------------------------

def questionnaire_answers(instrument: str, answers: dict | None = None, default: int = 0) -> dict:
    """Return a complete, valid response: every scored item at default, overridden by answers."""
    complete = {item.id: default for item in get_instrument(instrument).items if not item.is_multiple_choice}
    complete.update(answers or {})
    return complete


def assessment_assignment(patient, assigned_by, instrument: str = "phq9", cadence_days: int = 7,
                          window_days: int = 3, starts_on: date = date(2026, 11, 23)):
    """Store an active assignment directly."""
    assignment = AssessmentAssignment(
        patient_id=patient.id, instrument=instrument, cadence_days=cadence_days,
        window_days=window_days, starts_on=starts_on, assigned_by_id=assigned_by.id,
        assigned_at=datetime(2026, 11, 1, tzinfo=timezone.utc),
    )
    db.session.add(assignment)
    db.session.commit()
    return assignment


def assessment_response(patient, instrument: str, answers: dict, submitted_at, local_day: date,
                        assignment=None, occurrence_on: date | None = None):
    """Store a scored response directly (history, bypassing the schedule)."""
    scored = score(instrument, answers)
    response = AssessmentResponse(
        patient_id=patient.id, assignment_id=assignment.id if assignment else None,
        occurrence_on=occurrence_on, instrument=instrument, answers=answers, total=scored.total,
        band=scored.band.code if scored.band else None,
        subscales={code: sub.to_dict() for code, sub in scored.subscales.items()},
        item9=scored.item9, crisis=scored.crisis, local_day=local_day, submitted_at=submitted_at,
    )
    db.session.add(response)
    db.session.commit()
    return response


# --- weekly goals and attendance: stored directly (history, bypassing the rules) ---

def create_goal(patient: User, week_start: date, text: str = "Walk after dinner", done_at=None):
    """Store a weekly goal for the week starting on week_start (a Monday)."""
    goal = WeeklyGoal(patient_id=patient.id, week_start=week_start, text=text, done_at=done_at)
    db.session.add(goal)
    db.session.commit()
    return goal


def create_session(patient: User, session_date: date, recorded_by: User, *, kind: str = "group",
                   status: str = "attended", hours: float = 3.0, note: str | None = None):
    """Store one attendance record."""
    record = AttendanceRecord(
        patient_id=patient.id, session_date=session_date, kind=SessionKind(kind),
        status=AttendanceStatus(status), hours=hours, note=note, recorded_by_id=recorded_by.id,
    )
    db.session.add(record)
    db.session.commit()
    return record


# --- programs and bulk check-in history (dashboards) ------------------------------

def create_program(organization, name: str = "Evening IOP"):
    """Store a program of the organization."""
    program = Program(organization_id=organization.id, name=name)
    db.session.add(program)
    db.session.commit()
    return program


def place_in_program(patient: User, program) -> None:
    """Put an enrolled patient in a program."""
    assert patient.patient_profile is not None, "only an enrolled patient has a program"
    patient.patient_profile.program_id = program.id
    db.session.commit()


def create_checkins(patient: User, days: dict) -> None:
    """Store many check-ins in one commit (history, bypassing the edit rules).

    days maps each local day to its field overrides of checkin_body, e.g.
    {date(2026, 11, 22): {"craving": 8}}.
    """
    for day, overrides in days.items():
        db.session.add(Checkin(patient_id=patient.id, day=day, version=1,
                               **normalise_content(checkin_body(**overrides))))
    db.session.commit()


# --- consent (42 CFR Part 2) ---------------------------------------------------------

def create_consent(patient: User, *, scope: str = "outside_provider", recipient_name: str = "Dr. Ana Rivera",
                   recipient_kind: str = "physician", purpose: str = "Coordinate medication care",
                   granted_at=None, expires_at=None, revoked_at=None):
    """Store a consent to share outside the program directly (history, bypassing the API)."""
    consent = Consent(
        patient_id=patient.id, scope=ConsentScope(scope), recipient_name=recipient_name,
        recipient_kind=recipient_kind, purpose=purpose,
        granted_at=granted_at or datetime(2026, 11, 1, 15, 0, tzinfo=timezone.utc),
        expires_at=expires_at, revoked_at=revoked_at,
    )
    db.session.add(consent)
    db.session.commit()
    return consent


# --- alerts: stored directly (history, bypassing the rules) ---------------------------

def create_alert(patient, rule: str = "substance_use", *, severity: str = "high", status: str = "open",
                 local_day: date = date(2026, 11, 23), triggered_at=None, summary: str = "Test alert",
                 trigger_count: int = 1):
    """Store one alert; an open or acknowledged one holds the (patient, rule) open key."""
    when = triggered_at or datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc)
    alert = Alert(
        organization_id=patient.organization_id, patient_id=patient.id, rule=rule,
        severity=AlertSeverity(severity), status=AlertStatus(status), summary=summary, evidence={},
        open_key=None if status == "resolved" else f"{patient.id}:{rule}", first_triggered_at=when,
        last_triggered_at=when, trigger_count=trigger_count, local_day=local_day,
    )
    db.session.add(alert)
    db.session.commit()
    return alert
