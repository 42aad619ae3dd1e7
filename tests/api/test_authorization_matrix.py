"""Every route x every actor, from the app's own route list, with the outcome each must get.

Conventions:
- A row per (endpoint, method) of app.url_map (static files, HEAD and OPTIONS
  left out); a route without a row fails `test_every_route_has_a_row`, so a
  new route cannot ship without someone deciding who may call it.
- Path parameters name real records of *the patient* (their id, an alert,
  an assignment, a goal, a consent of theirs, their program), so a 404 means
  "out of the caller's reach", never "no such thing". Records a write would
  use up (a goal to delete, a consent to revoke, an alert to acknowledge) are
  made fresh for every cell.
- Write routes get a minimal valid body, so a refusal can only come from the
  access check. "ok" is any 2xx, or 409/412/422/428: the request got past the
  access check and the domain (or validation that depends on whose data it
  is) answered. "401", "403" and "404" are exact statuses.
- Actors use their own tokens; token-killing routes (logout, logout
  everywhere) get fresh ones, and the refresh route gets the refresh token.
- Public routes (login, register, unsubscribe, password reset, health, docs) answer everyone
  alike: an Authorization header changes nothing there.
"""
from datetime import date
from itertools import count

import pytest

from tests.factories import (
    PASSWORD,
    assessment_assignment,
    bearer,
    checkin_body,
    create_alert,
    create_consent,
    create_goal,
    create_program,
    questionnaire_answers,
)

ACTORS = ("anonymous", "patient", "other_patient", "care_team_clinician", "off_team_clinician",
          "other_org_clinician", "admin", "other_org_admin")

# Outcome per actor, in the order of ACTORS:
#            anon   patient other-pt care  off-team other-org-clin admin other-org-admin
PATIENT_OWN = "401 ok ok 403 403 403 403 403"        # a patient's own /me data
OWN_RECORD = "401 ok 404 403 403 403 403 403"        # one record of the patient, under /me
STAFF_VIEW = "401 403 404 ok 404 404 ok 404"         # a patient's record, staff side
STAFF_OR_SELF = "401 ok 404 ok 404 404 ok 404"       # a patient's record, the patient may read it too
STAFF_ROLE_FIRST = "401 403 403 ok 404 404 ok 404"   # staff only (any patient: 403), then the record's reach
ADMIN_OF_PATIENT = "401 403 404 403 404 404 ok 404"  # the admin only (e.g. the care team itself)
ANY_SIGNED_IN = "401 ok ok ok ok ok ok ok"
STAFF_ONLY = "401 403 403 ok ok ok ok ok"
ADMIN_ONLY = "401 403 403 403 403 403 ok ok"
ADMIN_OF_ORG = "401 403 403 403 403 403 ok 404"      # an account of the admin's organization
PROGRAM_OF_ORG = "401 403 403 404 404 404 ok 404"    # a program's report: its organization's admin
PUBLIC = "ok ok ok ok ok ok ok ok"
PUBLIC_404 = "404 404 404 404 404 404 404 404"
PUBLIC_REDIRECT = "302 302 302 302 302 302 302 302"
# The web session's own routes take the HttpOnly cookie with its CSRF value, never a bearer token.
BROWSER_COOKIE = "401 401 401 401 401 401 401 401"

EXPECTED = {
    ("api-docs.openapi_json", "GET"): PUBLIC,
    ("api-docs.openapi_redoc", "GET"): PUBLIC,
    ("health.Health", "GET"): PUBLIC,
    ("health.Ready", "GET"): PUBLIC,
    ("auth.Login", "POST"): PUBLIC,
    ("auth.Register", "POST"): PUBLIC,
    ("preferences.Unsubscribe", "GET"): PUBLIC,
    ("preferences.Unsubscribe", "POST"): PUBLIC,
    ("password_reset.PasswordResetRequest", "POST"): PUBLIC,
    ("password_reset.PasswordResetConfirm", "POST"): PUBLIC,  # a bad token: 422, past the access check
    ("password_reset.PasswordResetPage", "GET"): PUBLIC,
    # The web pages are shells: their data comes through the API routes below.
    ("web.home", "GET"): PUBLIC_REDIRECT,
    **{(f"web.{page}", "GET"): PUBLIC for page in (
        "signin", "caseload", "alerts", "patient", "admin", "summary", "notification_settings", "checkin")},
    ("web_session.sign_in", "POST"): PUBLIC,
    ("web_session.refresh", "POST"): BROWSER_COOKIE,
    ("web_session.sign_out", "POST"): BROWSER_COOKIE,
    ("auth.Refresh", "POST"): ANY_SIGNED_IN,
    ("auth.Logout", "POST"): ANY_SIGNED_IN,
    ("auth.LogoutEverywhere", "POST"): ANY_SIGNED_IN,
    ("auth.Me", "GET"): ANY_SIGNED_IN,
    ("auth.MyPassword", "POST"): ANY_SIGNED_IN,
    ("auth.UserDisable", "POST"): ADMIN_OF_ORG,
    ("auth.UserEnable", "POST"): ADMIN_OF_ORG,
    ("catalogue.Catalogue", "GET"): ANY_SIGNED_IN,
    ("catalogue.CopingSkills", "POST"): ADMIN_ONLY,
    ("catalogue.Programs", "GET"): STAFF_ONLY,
    ("catalogue.Programs", "POST"): ADMIN_ONLY,
    ("patients.Clinicians", "GET"): ADMIN_ONLY,
    ("assessments.Instruments", "GET"): ANY_SIGNED_IN,
    ("assessments.MyAssessments", "GET"): PATIENT_OWN,
    ("assessments.MyAssessments", "POST"): OWN_RECORD,  # the patient's assignment
    ("assessments.MyDueAssessments", "GET"): PATIENT_OWN,
    ("attendance.MyAttendance", "GET"): PATIENT_OWN,
    ("checkins.MyCheckins", "GET"): PATIENT_OWN,
    ("checkins.MyCheckinDay", "GET"): PATIENT_OWN,
    ("checkins.MyCheckinDay", "PUT"): PATIENT_OWN,
    ("checkins.MyCheckinSync", "POST"): PATIENT_OWN,
    ("privacy.MyConsent", "GET"): PATIENT_OWN,
    ("privacy.MyConsents", "POST"): PATIENT_OWN,
    ("privacy.MyConsentRevocation", "POST"): OWN_RECORD,
    ("privacy.MyCareTeamConsentRevocation", "POST"): PATIENT_OWN,
    ("privacy.MyDisclosures", "GET"): PATIENT_OWN,
    ("privacy.MyExport", "GET"): PATIENT_OWN,
    ("privacy.MyExportDocument", "GET"): PATIENT_OWN,
    ("privacy.MyExportCsv", "GET"): PATIENT_OWN,
    ("privacy.MyExportFhir", "GET"): PATIENT_OWN,
    ("goals.MyGoals", "GET"): PATIENT_OWN,
    ("goals.MyGoals", "POST"): PATIENT_OWN,
    ("goals.MyGoal", "PATCH"): OWN_RECORD,
    ("goals.MyGoal", "DELETE"): OWN_RECORD,
    ("preferences.MyPreferences", "GET"): PATIENT_OWN,
    ("preferences.MyPreferences", "PUT"): PATIENT_OWN,
    ("dashboards.MySummary", "GET"): PATIENT_OWN,
    ("weekly_summary.MyWeeklySummary", "GET"): PATIENT_OWN,
    ("trends.MyTrends", "GET"): PATIENT_OWN,
    ("alerts.Alerts", "GET"): STAFF_ONLY,
    ("alerts.AlertAcknowledge", "POST"): STAFF_ROLE_FIRST,
    ("alerts.AlertResolve", "POST"): STAFF_ROLE_FIRST,
    ("audit.AuditLog", "GET"): ADMIN_ONLY,
    ("dashboards.Caseload", "GET"): STAFF_ONLY,
    ("dashboards.ProgramReport", "GET"): PROGRAM_OF_ORG,
    ("preferences.Deliveries", "GET"): ADMIN_ONLY,
    ("patients.Patients", "GET"): STAFF_ONLY,
    ("patients.Patients", "POST"): STAFF_ONLY,
    ("patients.PatientRecord", "GET"): STAFF_VIEW,
    ("patients.PatientCareTeam", "PUT"): ADMIN_OF_PATIENT,
    ("patients.PatientLevelOfCare", "POST"): STAFF_VIEW,
    ("patients.PatientInvite", "POST"): STAFF_VIEW,
    ("checkins.PatientCheckins", "GET"): STAFF_OR_SELF,
    ("assessments.PatientAssignments", "GET"): STAFF_VIEW,
    ("assessments.PatientAssignments", "POST"): STAFF_VIEW,
    ("assessments.PatientAssignmentEnd", "POST"): STAFF_VIEW,
    ("assessments.PatientAssessments", "GET"): STAFF_OR_SELF,
    ("attendance.PatientAttendance", "GET"): STAFF_OR_SELF,
    ("attendance.PatientAttendance", "POST"): STAFF_VIEW,
    ("attendance.PatientAttendanceSummary", "GET"): STAFF_OR_SELF,
    ("privacy.PatientConsents", "GET"): STAFF_VIEW,
    ("privacy.PatientDisclosures", "POST"): STAFF_VIEW,
    ("dashboards.PatientDashboard", "GET"): STAFF_VIEW,
    ("goals.PatientGoals", "GET"): STAFF_OR_SELF,
    ("trends.PatientTrends", "GET"): STAFF_OR_SELF,
}

OK_STATUSES = frozenset({409, 412, 422, 428})


def outcome(status: int) -> str:
    if 200 <= status < 300 or status in OK_STATUSES:
        return "ok"
    return str(status)


def routes(app) -> list[tuple[str, str, object]]:
    """Return (endpoint, method, rule) for every route, static files and HEAD/OPTIONS left out."""
    return sorted(((rule.endpoint, method, rule) for rule in app.url_map.iter_rules()
                   if rule.endpoint.split(".")[-1] != "static" for method in rule.methods - {"HEAD", "OPTIONS"}),
                  key=lambda route: (route[2].rule, route[1]))


class World:
    """The patient, everyone around them, and a fresh record whenever a write would use one up."""

    def __init__(self, make):
        self.make = make
        home, elsewhere = make.organization(), make.organization()
        clinician = make.clinician(home)
        self.users = {
            "patient": make.patient(clinician),
            "other_patient": make.patient(clinician),
            "care_team_clinician": clinician,
            "off_team_clinician": make.clinician(home),
            "other_org_clinician": make.clinician(elsewhere),
            "admin": make.admin(home),
            "other_org_admin": make.admin(elsewhere),
        }
        self.patient = self.users["patient"]
        self.bystander = make.clinician(home)  # the account an admin disables
        self.program = create_program(home)
        self.assignment = assessment_assignment(self.patient, clinician)
        for patient in (self.patient, self.users["other_patient"]):
            make.checkin(patient, date(2026, 11, 23))
        self.tokens = {who: make.tokens(user) for who, user in self.users.items()}
        self._n = count(1)

    def headers(self, who: str, kind: str = "access", fresh: bool = False) -> dict:
        if who == "anonymous":
            return {}
        tokens = self.make.tokens(self.users[who]) if fresh else self.tokens[who]
        return bearer(tokens[f"{kind}_token"])

    def value(self, name: str):
        """Return a path parameter: a real record of the patient."""
        n = next(self._n)
        if name == "patient_id":
            return self.patient.id
        if name == "user_id":
            return self.bystander.id
        if name == "program_id":
            return self.program.id
        if name == "assignment_id":
            return self.assignment.id
        if name == "alert_id":
            return create_alert(self.patient, rule=f"matrix_rule_{n}").id
        if name == "goal_id":
            return create_goal(self.patient, date(2026, 11, 23), text=f"Goal {n}").id
        if name == "consent_id":
            return create_consent(self.patient).id
        if name == "day":
            return "2026-11-23"
        if name == "token":
            from services.ledger import WEEKLY_SUMMARY
            from services.preferences import unsubscribe_token

            return unsubscribe_token(self.patient.id, WEEKLY_SUMMARY)
        raise AssertionError(f"no value for the path parameter {name!r}: add one to World.value")

    def body(self, endpoint: str, method: str):
        """Return a minimal valid body for a write, so only the access check can refuse it."""
        n = next(self._n)
        bodies = {
            "auth.Login": {"email": self.patient.email, "password": PASSWORD},
            "web_session.sign_in": {"email": self.patient.email, "password": PASSWORD},
            "auth.Register": {"invite_code": "NOSUCHCODE23", "email": f"new{n}@example.org",
                              "password": "a long enough password"},
            # A wrong current password: past the access check, and no one's password changes.
            "auth.MyPassword": {"current_password": "not the password", "new_password": "another passphrase"},
            # A fresh address each time, so no cell meets the per-address throttle.
            "password_reset.PasswordResetRequest": {"email": f"forgot{n}@example.org"},
            "password_reset.PasswordResetConfirm": {"token": "not-a-reset-token",
                                                    "new_password": "a long enough passphrase"},
            "catalogue.CopingSkills": {"code": f"skill_{n}", "label": "Box breathing"},
            "catalogue.Programs": {"name": f"Program {n}"},
            "assessments.MyAssessments": {"assignment_id": self.assignment.id,
                                          "answers": questionnaire_answers("phq9")},
            "checkins.MyCheckinDay": checkin_body(),
            "checkins.MyCheckinSync": {"checkins": [{"date": "2026-11-22", **checkin_body()}]},
            "privacy.MyConsents": {"scope": "outside_provider", "recipient_name": "Dr. Ana Rivera",
                                   "recipient_kind": "physician", "purpose": "Coordinate care"},
            "goals.MyGoals": {"text": "Call my sponsor"},
            "goals.MyGoal": {"text": "Call my sponsor twice"},
            "preferences.MyPreferences": {"weekly_summary": "notice", "reminders_enabled": False,
                                          "reminder_time": "19:00"},
            "alerts.AlertAcknowledge": {"note": "Seen"},
            "alerts.AlertResolve": {"note": "Talked it through"},
            "patients.Patients": {"email": f"enrolled{n}@example.org", "display_name": f"Enrolled {n}",
                                  "timezone": "America/New_York", "level_of_care": "iop"},
            # The same care team: the admin's cell must not take the patient from their clinician.
            "patients.PatientCareTeam": {"clinician_ids": [self.users["care_team_clinician"].id]},
            "patients.PatientLevelOfCare": {"level_of_care": "iop"},
            "assessments.PatientAssignments": {"instrument": "gad7", "cadence_days": 7, "window_days": 3},
            "attendance.PatientAttendance": {"session_date": "2026-11-22", "kind": "group",
                                             "status": "attended", "hours": 3.0},
            "privacy.PatientDisclosures": {"consent_id": create_consent(self.patient).id, "format": "json"},
        }
        if method in ("GET", "DELETE"):
            return None
        return bodies.get(endpoint)

    def request(self, client, endpoint: str, method: str, rule, who: str):
        path = rule.build({name: self.value(name) for name in rule.arguments}, append_unknown=False)[1]
        kind = "refresh" if endpoint == "auth.Refresh" else "access"
        fresh = endpoint in ("auth.Refresh", "auth.Logout", "auth.LogoutEverywhere")
        response = client.open(path, method=method, headers=self.headers(who, kind, fresh),
                               json=self.body(endpoint, method))
        if endpoint == "auth.LogoutEverywhere" and who != "anonymous":
            self.tokens[who] = self.make.tokens(self.users[who])  # every one of theirs died
        return response


@pytest.fixture
def world(app, make):
    # Eight actors log in through the matrix: the throttle is not what is tested here.
    app.config.update(LOGIN_LIMITS_PER_ACCOUNT="1000/minute", LOGIN_LIMITS_PER_ADDRESS="1000/minute",
                      PASSWORD_CHANGE_LIMITS="1000/minute")
    return World(make)


def test_every_route_has_a_row(app):
    missing = [f"{endpoint} {method}" for endpoint, method, _rule in routes(app)
               if (endpoint, method) not in EXPECTED]
    stale = sorted({f"{endpoint} {method}" for endpoint, method in EXPECTED}
                   - {f"{endpoint} {method}" for endpoint, method, _rule in routes(app)})

    assert not missing, ("these routes have no row in EXPECTED (tests/api/test_authorization_matrix.py); "
                         f"decide who may call them and add one: {missing}")
    assert not stale, f"these rows name no route any more: {stale}"


def test_every_actor_gets_the_expected_outcome_on_every_route(app, client, world):
    wrong = []
    for endpoint, method, rule in routes(app):
        expected = EXPECTED.get((endpoint, method))
        if expected is None:
            continue  # test_every_route_has_a_row says so
        for who, want in zip(ACTORS, expected.split(), strict=True):
            response = world.request(client, endpoint, method, rule, who)
            got = outcome(response.status_code)
            if got != want:
                wrong.append(f"{method} {rule.rule} as {who}: expected {want}, got {response.status_code} "
                             f"{(response.get_json(silent=True) or {}).get('detail', '')}")

    assert not wrong, "\n".join(["access differs from the matrix:", *wrong])
