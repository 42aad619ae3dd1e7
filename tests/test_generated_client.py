"""A Python client generated from openapi.yaml drives the phone's and the clinician's day, typed end to end.

The client is generated at test time (openapi-python-client, pinned in the
test extra) into a temporary folder, never committed, and talks to the test's
app in process through httpx's WSGI transport. Every answer must parse into
the generated models: a field left a dict, an Any or Unset where the contract
says it is always there fails the test, as it would fail the phone's build.
"""
import datetime
import importlib
import subprocess
import sys
from pathlib import Path

import attrs
import httpx
import pytest

from tests.factories import PASSWORD

OPENAPI = Path(__file__).resolve().parent.parent / "openapi.yaml"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "waypoint_client"
TODAY = datetime.date(2026, 11, 23)  # the frozen clock's day in New York
BASE_URL = "http://waypoint.test"
# A FHIR resource's fields beyond resourceType and id are FHIR's own JSON
# (checked against FHIR R4 models in tests/api/test_export.py).
OPEN_MODELS = {"FhirResource"}


@pytest.fixture(scope="module")
def wp(tmp_path_factory):
    """Generate the client from the committed contract; refuse any warning."""
    folder = tmp_path_factory.mktemp("generated")
    config = folder / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: the code is read by Python only
    done = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(OPENAPI), "--output-path", str(folder / PACKAGE),
         "--meta", "none", "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr
    sys.path.insert(0, str(folder))
    try:
        yield _Client(importlib.import_module(PACKAGE))
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
            del sys.modules[name]


class _Client:
    """The generated package: wp.models.X, wp.call("put_my_checkin", ...)."""

    def __init__(self, package):
        self.package = package
        self.models = importlib.import_module(f"{PACKAGE}.models")
        self.types = importlib.import_module(f"{PACKAGE}.types")

    def operation(self, operation_id: str):
        """Return the generated module of an operation, whichever tag it sits under."""
        [module] = Path(self.package.__file__).parent.glob(f"api/*/{operation_id}.py")
        return importlib.import_module(f"{PACKAGE}.api.{module.parent.name}.{operation_id}")

    def client(self, app, token: str | None = None):
        transport = httpx.WSGITransport(app=app)
        if token is None:
            return self.package.Client(base_url=BASE_URL, httpx_args={"transport": transport},
                                       raise_on_unexpected_status=True)
        return self.package.AuthenticatedClient(base_url=BASE_URL, token=token, raise_on_unexpected_status=True,
                                                httpx_args={"transport": transport})

    def call(self, operation_id: str, expect: int, **kwargs):
        """Call one operation (sync_detailed); check its status; return (typed answer, headers)."""
        response = self.operation(operation_id).sync_detailed(**kwargs)
        assert response.status_code == expect, (operation_id, response.status_code, response.content[:500])
        if expect != 204:
            assert_typed(response.parsed, operation_id)
        return response.parsed, response.headers

    def log_in(self, app, email: str):
        tokens, _ = self.call("log_in", 200, client=self.client(app),
                              body=self.models.Login(email=email, password=PASSWORD))
        return self.client(app, tokens.access_token)


def assert_typed(value, where: str) -> None:
    """Assert value is a generated model all the way down: no dict, no Any, nothing Unset that is required."""
    from attrs import fields

    assert attrs.has(type(value)) or isinstance(value, list), f"{where}: {type(value).__name__}"
    pending = [(value, where)]
    while pending:
        node, path = pending.pop()
        if isinstance(node, list):
            pending.extend((item, f"{path}[]") for item in node)
        elif isinstance(node, dict):
            raise AssertionError(f"{path} is a plain dict, not a model")
        elif attrs.has(type(node)):
            for field in fields(type(node)):
                child = getattr(node, field.name)
                if field.name == "additional_properties":
                    if type(node).__name__ in OPEN_MODELS:
                        continue
                    # A map keyed by data (subscales by code): typed values only.
                    pending.extend((item, f"{path}[{key}]") for key, item in child.items())
                    continue
                assert not (type(child).__name__ == "Unset" and field.default is attrs.NOTHING), \
                    f"{path}.{field.name} is required but unset"
                pending.append((child, f"{path}.{field.name}"))


@pytest.fixture
def clinic(make):
    clinician = make.clinician(name="Dr Rivera")
    patient = make.patient(clinician, recovery_start_date=datetime.date(2026, 10, 1))
    return clinician, patient


def test_the_phone_and_the_clinician_through_the_generated_client_only(app, clinic, wp):
    clinician_user, patient_user = clinic
    m = wp.models

    # The clinician puts a PHQ-9 on the patient's schedule, open from today.
    clinician = wp.log_in(app, clinician_user.email)
    assignment, _ = wp.call("create_assessment_assignment", 201, client=clinician,
                            patient_id=patient_user.id, body=m.AssessmentAssignmentInput(
                                instrument=m.AssessmentAssignmentInputInstrument.PHQ9, cadence_days=7,
                                window_days=3, starts_on=TODAY))

    # --- the phone ---------------------------------------------------------------
    phone = wp.log_in(app, patient_user.email)
    me, _ = wp.call("get_me", 200, client=phone)
    assert isinstance(me.patient, m.OwnProfile)

    content = m.CheckinContent(craving=4, mood=6, sleep_hours=7.5, used_substance=False,
                               coping_skills=["urge_surfing"])
    written, headers = wp.call("put_my_checkin", 201, client=phone, day=TODAY, body=content)
    assert (written.version, headers["ETag"]) == (1, '"1"')
    retried, headers = wp.call("put_my_checkin", 200, client=phone, day=TODAY, body=content)
    assert retried.version == 1  # the network dropped the answer; the retry changes nothing

    content.craving = 6
    edited, headers = wp.call("put_my_checkin", 200, client=phone, day=TODAY, body=content,
                              if_match=headers["ETag"])
    assert (edited.version, edited.craving, headers["ETag"]) == (2, 6, '"2"')
    stale, _ = wp.call("put_my_checkin", 412, client=phone, day=TODAY,
                       body=m.CheckinContent(craving=2, mood=6, sleep_hours=7.5, used_substance=False),
                       if_match='"1"')
    assert isinstance(stale, m.Problem) and stale.type_.endswith("/stale-version")

    # Offline for two days, then the queue goes up at once; one day with use, for the care team.
    queue = [m.SyncEntry(date=TODAY - datetime.timedelta(days=back), craving=craving, mood=5, sleep_hours=6.0,
                         used_substance=used, substances=[m.SyncEntrySubstancesItem.ALCOHOL] if used else [])
             for back, craving, used in ((2, 3, False), (1, 8, True))]
    synced, _ = wp.call("sync_my_checkins", 200, client=phone, body=m.SyncRequest(checkins=queue))
    assert [(outcome.outcome, type(outcome.checkin)) for outcome in synced.results] == [
        (m.SyncOutcomeOutcome.CREATED, m.Checkin)] * 2

    trends, _ = wp.call("get_my_trends", 200, client=phone)
    summary, _ = wp.call("get_my_summary", 200, client=phone)
    assert isinstance(trends, m.Trends) and isinstance(summary, m.Summary)

    due, _ = wp.call("list_my_due_assessments", 200, client=phone)
    assert [occurrence.assignment_id for occurrence in due.due] == [assignment.id]
    answers = m.AssessmentSubmissionAnswers.from_dict({str(item): 1 for item in range(1, 10)} | {"9": 0})
    scored, _ = wp.call("submit_my_assessment", 201, client=phone,
                        body=m.AssessmentSubmission(assignment_id=assignment.id, answers=answers))
    assert scored.total == 8

    goal, _ = wp.call("create_my_goal", 201, client=phone, body=m.GoalCreate(text="Walk after dinner"))
    done, _ = wp.call("update_my_goal", 200, client=phone, goal_id=goal.id, body=m.GoalUpdate(done=True))
    week, _ = wp.call("get_my_goal_week", 200, client=phone)
    assert done.done and [g.id for g in week.goals] == [goal.id]

    # Read, change, send back: the answer's model becomes the body without a read-only field.
    preferences, _ = wp.call("get_my_preferences", 200, client=phone)
    sent = m.PreferencesInput.from_dict({key: value for key, value in preferences.to_dict().items()
                                         if key != "updated_at"} | {"reminder_time": "20:30"})
    saved, _ = wp.call("put_my_preferences", 200, client=phone, body=sent)
    assert saved.reminder_time == "20:30"

    # The patient's own records, one typed answer per format.
    document, _ = wp.call("export_my_records_document", 200, client=phone)
    bundle, _ = wp.call("export_my_records_fhir", 200, client=phone)
    csv = wp.operation("export_my_checkins_csv").sync_detailed(client=phone)
    assert len(document.checkins) == 3 and isinstance(document.checkins[0], m.Checkin)
    assert isinstance(bundle, m.FhirBundle) and bundle.resource_type == m.FhirBundleResourceType.BUNDLE
    assert csv.status_code == 200 and csv.content.decode().count("\n") == 4  # a header and three days

    consent, _ = wp.call("grant_my_consent", 201, client=phone, body=m.ConsentGrant(
        scope=m.ConsentGrantScope.OUTSIDE_PROVIDER, recipient_name="Dr. Ana Rivera, Eastside Family Medicine",
        recipient_kind="physician", purpose="Coordinate medication for opioid use disorder"))

    # --- the clinician -----------------------------------------------------------
    formats = m.DisclosureRequestFormat
    disclosed = {kind: wp.call("record_disclosure", 201, client=clinician, patient_id=patient_user.id,
                               body=m.DisclosureRequest(consent_id=consent.id, format_=kind))[0].document
                 for kind in (formats.JSON, formats.FHIR, formats.CSV)}
    if isinstance(disclosed[formats.JSON], dict):
        m.ExportDocument.from_dict(disclosed[formats.JSON])
    assert [type(document) for document in disclosed.values()] == [m.ExportDocument, m.FhirBundle, str]

    caseload, _ = wp.call("get_caseload", 200, client=clinician)
    assert [row.patient.id for row in caseload.items] == [patient_user.id]
    dashboard, _ = wp.call("get_patient_dashboard", 200, client=clinician, patient_id=patient_user.id)
    assert dashboard.patient.id == patient_user.id

    alerts, _ = wp.call("list_alerts", 200, client=clinician)
    assert alerts.items, "the day with use raised an alert"
    alert = alerts.items[0]
    acknowledged, _ = wp.call("acknowledge_alert", 200, client=clinician, alert_id=alert.id)
    resolved, _ = wp.call("resolve_alert", 200, client=clinician, alert_id=alert.id,
                          body=m.AlertNote(note="Called; plan adjusted."))
    assert (acknowledged.status, resolved.status) == (m.AlertStatus.ACKNOWLEDGED, m.AlertStatus.RESOLVED)


def test_a_token_problem_tells_the_phone_what_to_do(app, clinic, wp):
    phone = wp.client(app, token="not.a.token")

    problem, _ = wp.call("get_me", 401, client=phone)

    assert isinstance(problem, wp.models.Problem) and problem.type_.endswith("/token-invalid")
