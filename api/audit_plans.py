"""Which routes the audit trail records, and how: one plan per route, the classification tables.

Every route the app registers is classified here, by rule: a route under
PATIENT_DATA_PATHS is audited, and so is one in AUDITED_ENDPOINTS; one in
NOT_AUDITED_ENDPOINTS is not. A test fails on a route that is none of these
(and at run time such a route is audited, not skipped). api.audit writes the
event each plan describes.
"""
from dataclasses import dataclass

from werkzeug.routing import Rule


@dataclass(frozen=True)
class Audited:
    """How requests to one route are recorded.

    action: None for "read" (GET, HEAD) or "write" (anything else).
    patient: where the patient comes from: "path" (the URL's patient_id),
    "caller" (the patient calling), "response" (the patients a successful
    response names: one, or the ids of a list), or "none" (a list still
    records its count).
    """

    action: str | None = None
    patient: str = "path"
    # For lists of patient records: an item's own "id" is the patient.
    items_are_patients: bool = False
    # The URL argument that names the patient, for patient="path".
    path_argument: str = "patient_id"


# Every route under these paths touches patient records.
PATIENT_DATA_PATHS = ("/api/v1/me", "/api/v1/patients", "/api/v1/alerts")

# Audited routes outside those paths, and patient routes recorded more finely.
AUDITED_ENDPOINTS = {
    "dashboards.Caseload": Audited(patient="response"),
    # Figures over a whole program's patients, shown to directors.
    "dashboards.ProgramReport": Audited(patient="none"),
    # Who touched which patient is itself worth knowing who looked at.
    "audit.AuditLog": Audited(patient="none"),
    "patients.Patients": Audited(patient="response", items_are_patients=True),
    "privacy.MyExport": Audited(action="export", patient="caller"),
    "privacy.MyExportDocument": Audited(action="export", patient="caller"),
    "privacy.MyExportCsv": Audited(action="export", patient="caller"),
    "privacy.MyExportFhir": Audited(action="export", patient="caller"),
    "privacy.PatientDisclosures": Audited(action="disclose"),
    # The organization's e-mail ledger: who was sent a summary or reminder.
    "preferences.Deliveries": Audited(patient="none"),
    # A patient's e-mail preference, changed from a link without signing in.
    "preferences.Unsubscribe": Audited(patient="none"),
    "auth.Login": Audited(action="login", patient="none"),
    "auth.Register": Audited(action="register", patient="caller"),
    "auth.Refresh": Audited(action="refresh", patient="none"),
    "auth.Logout": Audited(action="logout", patient="none"),
    "auth.LogoutEverywhere": Audited(action="logout_everywhere", patient="none"),
    "auth.MyPassword": Audited(action="password_change", patient="caller"),
    # An admin turning an account off or on: a patient's, or staff's (no patient then).
    "auth.UserDisable": Audited(action="disable_account", path_argument="user_id"),
    "auth.UserEnable": Audited(action="enable_account", path_argument="user_id"),
    # Asking for a reset link names no one (whether an account exists stays unsaid);
    # using the link names the account it reset (name_actor).
    "password_reset.PasswordResetRequest": Audited(patient="caller"),
    "password_reset.PasswordResetConfirm": Audited(action="password_reset", patient="caller"),
    # The web pages' browser session (api/browser_session.py): a sign-in, refresh and sign-out like the API's.
    "web_session.sign_in": Audited(action="login", patient="none"),
    "web_session.refresh": Audited(action="refresh", patient="none"),
    "web_session.sign_out": Audited(action="logout", patient="none"),
}

# Routes that never touch a patient's records, and why.
NOT_AUDITED_ENDPOINTS = {
    "health.Health": "liveness; touches no data",
    "health.Ready": "readiness; touches no data",
    "catalogue.Catalogue": "the organization's vocabularies",
    "catalogue.CopingSkills": "the organization's coping-skill catalogue",
    "catalogue.Programs": "the organization's programs",
    "patients.Clinicians": "the organization's clinicians; no patient's records",
    "assessments.Instruments": "the questionnaires themselves, no answers",
    "api-docs.openapi_json": "the API description",
    "api-docs.openapi_redoc": "the API documentation page",
    "static": "static files",
    "password_reset.PasswordResetPage": "the reset link's page; touches no data",
    **{f"web.{page}": "a web page's shell; its data comes through audited API calls" for page in (
        "home", "signin", "caseload", "alerts", "patient", "admin", "summary", "notification_settings",
        "checkin")},
    "web.static": "the web pages' scripts and styles",
}


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def is_classified(rule: Rule) -> bool:
    """Tell whether a route carries an explicit audit decision."""
    return (rule.endpoint in AUDITED_ENDPOINTS or rule.endpoint in NOT_AUDITED_ENDPOINTS
            or any(_under(rule.rule, prefix) for prefix in PATIENT_DATA_PATHS))


def audit_plan(rule: Rule) -> Audited | None:
    """Return how requests to a route are audited, or None for a route that is never audited.

    An unclassified route is audited (with whatever patients its responses
    name): forgetting to classify must not lose events.
    """
    if rule.endpoint in NOT_AUDITED_ENDPOINTS:
        return None
    if rule.endpoint in AUDITED_ENDPOINTS:
        return AUDITED_ENDPOINTS[rule.endpoint]
    if "patient_id" in rule.arguments:
        return Audited(patient="path")
    if _under(rule.rule, "/api/v1/me"):
        return Audited(patient="caller")
    return Audited(patient="response")
