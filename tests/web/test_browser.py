"""The pages in a real Chromium against a live server on the test database.

Each test checks what a person does (sign in, read the caseload, open a
patient, acknowledge an alert, check in, unsubscribe) and, on every page it
visits, that no request leaves the origin, the console shows no error, the
CSP reports no violation and axe-core finds no serious or critical problem.
"""
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from models import User, db
from services.demo import CLINICIANS, DEMO_PASSWORD, seed_demo_clinic
from services.ledger import WEEKLY_SUMMARY
from services.preferences import unsubscribe_link
from tests.factories import PASSWORD

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium): no browser tests", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
AXE_RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
WATCH_CSP = ("window.__cspViolations = [];"
             "document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push("
             "e.violatedDirective + ' ' + e.blockedURI));")
# Every wait is bounded: a broken page fails in seconds, not at pytest's timeout.
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(live_server, clock):
    """Conftest's server, with the clock frozen before the first page asks for a day."""
    return live_server


@pytest.fixture
def demo_clinic(app, clock):
    summary = seed_demo_clinic(clock.now, patients=5, days=35)
    db.session.commit()
    return summary


class Watched:
    """A browser page whose every request, console error and CSP violation is recorded."""

    def __init__(self, browser, base: str):
        self.base = base
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(WAIT_MS)
        self.context.add_init_script(WATCH_CSP)
        self.page = self.context.new_page()
        self.foreign, self.errors = [], []
        self.page.on("request", lambda request: None if request.url.startswith(base + "/")
                     else self.foreign.append(request.url))
        self.page.on("console", lambda message: self.errors.append(message.text)
                     if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def check(self) -> None:
        """Assert the current page stayed in the origin, logged no error, broke no policy and passes axe."""
        page = self.page
        assert self.foreign == [], self.foreign
        assert self.errors == [], self.errors
        assert page.evaluate("window.__cspViolations") == []
        page.evaluate(AXE)
        result = page.evaluate("rules => axe.run(document, rules)", AXE_RULES)
        serious = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
                   if v["impact"] in ("serious", "critical")]
        assert serious == [], f"{page.url}: {serious}"

    def sign_in(self, email: str, password: str = DEMO_PASSWORD) -> None:
        self.page.goto(self.base + "/signin")
        self.check()
        self.page.fill("#email", email)
        self.page.fill("#password", password)
        self.page.click("#signin-form button[type=submit]")


@pytest.fixture
def watched(browser, live_server):
    session = Watched(browser, live_server)
    yield session
    session.context.close()


@pytest.fixture
def api(client, make):
    """Ask the API itself, as user: what the page showed must be what it answers."""
    def ask(user, path):
        return client.get(f"/api/v1{path}", headers=make.headers(user))
    return ask


def test_a_clinician_reads_the_caseload_opens_the_top_patient_and_acknowledges_an_alert(
        watched, demo_clinic, api):
    clinician = db.session.scalar(select(User).where(User.email == CLINICIANS[0][0]))
    page = watched.page

    watched.sign_in(clinician.email)
    page.wait_for_url("**/caseload")
    page.wait_for_selector("#caseload-table tbody tr")
    watched.check()
    shown = [int(i) for i in page.eval_on_selector_all(
        "#caseload-table tbody tr", "rows => rows.map(r => r.dataset.patientId)")]
    answered = [row["patient"]["id"] for row in api(clinician, "/caseload?page_size=100").json["items"]]
    assert shown == answered
    risk_text = page.inner_text("#caseload-table tbody tr >> nth=0")
    assert "Risk: " in risk_text  # the level as words, not colour alone

    page.click("#caseload-table tbody tr >> nth=0 >> th a")
    page.wait_for_url(f"**/patients/{answered[0]}")
    for chart in ("craving", "mood", "sleep"):
        page.wait_for_selector(f"#chart-{chart} canvas")
    page.wait_for_selector("#score-charts canvas")
    assert page.inner_text("h1") == page.evaluate("document.title").split(" - ")[0]
    watched.check()

    page.click("nav >> text=Alerts")
    page.wait_for_selector("#alert-total:not(:empty)")
    watched.check()
    first = page.query_selector("#alert-list li")
    assert first is not None, "the demo clinic has open alerts"
    alert_id = int(first.get_attribute("data-alert-id"))
    page.fill(f"#note-acknowledge-{alert_id}", "Called the patient")
    page.click(f"li[data-alert-id='{alert_id}'] form.alert-action button:has-text('Acknowledge')")
    page.wait_for_selector("#status:has-text('acknowledged')")
    watched.check()
    alerts = api(clinician, "/alerts?status=acknowledged&page_size=100").json["items"]
    [acknowledged] = [a for a in alerts if a["id"] == alert_id]
    assert acknowledged["acknowledge_note"] == "Called the patient"


def test_tabs_opened_at_once_keep_the_session(watched, demo_clinic):
    """Each tab refreshes the shared cookie; racing, one would present a rotated-away token and end it."""
    page = watched.page
    watched.sign_in(CLINICIANS[0][0])
    page.wait_for_url("**/caseload")
    page.wait_for_selector("#caseload-table tbody tr")

    tabs = [watched.context.new_page() for _ in range(4)]
    for tab in tabs:
        tab.goto(watched.base + "/alerts", wait_until="commit")
    for tab in tabs:
        tab.wait_for_selector("#alert-total:not(:empty)")
        assert "/signin" not in tab.url

    page.reload()
    page.wait_for_selector("#caseload-table tbody tr")
    assert "/signin" not in page.url
    watched.check()


def test_the_weekly_e_mails_link_opens_that_weeks_figures(watched, make, api, clock):
    from datetime import timedelta

    patient = make.patient()
    period = api(patient, "/me/weekly-summary").json["period"]  # last week
    monday = clock.now.date() - timedelta(days=clock.now.date().weekday() + 7)
    for offset in range(7):
        make.checkin(patient, monday + timedelta(days=offset), craving=offset, used_substance=offset == 2)
    db.session.commit()
    page = watched.page

    watched.sign_in(patient.email, PASSWORD)
    page.wait_for_url("**/summary")
    page.wait_for_selector("#week table tbody tr")  # its refresh done: leaving mid-refresh loses the rotated cookie
    page.goto(f"{watched.base}/summary?week={period}")
    page.wait_for_selector("#week table tbody tr")
    watched.check()

    rows = page.eval_on_selector_all("#week table tbody tr", "rows => rows.map(r => r.innerText)")
    days = api(patient, f"/me/weekly-summary?week={period}").json["days"]
    assert len(rows) == 7
    for row, day in zip(rows, days, strict=True):
        assert day["day"] in row and str(day["craving"]) in row
    assert "Yes" in rows[2].split("\t")[-1] and "No" in rows[3].split("\t")[-1]  # the use day, in words
    assert monday.isoformat() in page.inner_text("#week-h")


def test_a_patient_checks_in_through_the_form_and_sees_crisis_resources_at_once(watched, make, api):
    patient = make.patient()
    page = watched.page

    watched.sign_in(patient.email, PASSWORD)
    page.wait_for_url("**/summary")
    page.wait_for_selector("#summary dl")
    watched.check()

    page.click("nav >> text=Check in")
    page.wait_for_selector("#status:not(:empty)")  # the day is chosen and looked up
    watched.check()
    page.fill("#craving", "6")
    page.fill("#mood", "3")
    page.fill("#sleep_hours", "5.5")
    page.check("#used-yes")
    page.check("#substances-alcohol")
    page.check("#triggers-stress")
    page.check("#harm-yes")
    page.click("#checkin-form button[type=submit]")
    page.wait_for_selector("#crisis", state="visible")
    watched.check()
    day = page.input_value("#day")
    saved = api(patient, f"/me/checkins/{day}").json
    assert (saved["craving"], saved["mood"], saved["sleep_hours"], saved["self_harm_thoughts"]) == (6, 3, 5.5, True)
    assert (saved["used_substance"], saved["substances"], saved["triggers"]) == (True, ["alcohol"], ["stress"])

    page.fill("#mood", "4")  # an edit sends the version back in If-Match
    page.click("#checkin-form button[type=submit]")  # the status says "Saving…" until the answer
    page.wait_for_selector("#status:has-text('Check-in saved')")
    assert api(patient, f"/me/checkins/{day}").json["mood"] == 4
    assert page.inner_text("#checkin-error") == ""


def test_the_unsubscribe_page_works_by_click(watched, make, api):
    patient = make.patient()
    page = watched.page

    page.goto(unsubscribe_link(patient.id, WEEKLY_SUMMARY))
    watched.check()
    page.click("button[type=submit]")
    page.wait_for_selector("text=Unsubscribed")
    watched.check()
    assert api(patient, "/me/preferences").json["weekly_summary"] == "off"


def test_an_admin_enrols_a_patient_and_sees_the_invite_code_once_then_reads_the_report_and_audit_log(
        watched, demo_clinic, api, make):
    from services.demo import ADMIN_EMAIL

    page = watched.page
    watched.sign_in(ADMIN_EMAIL)
    page.wait_for_url("**/caseload")
    page.wait_for_selector("#caseload-table tbody tr")
    page.click("nav >> text=Admin")
    page.wait_for_selector("#audit-total:not(:empty)")
    assert page.inner_text("#report") != ""  # the first program's report
    watched.check()

    page.fill("#display_name", "Robin Example")
    page.fill("#enrol-email", "robin@example.org")
    page.click("#enrol-form button[type=submit]")
    page.wait_for_selector("#invite", state="visible")
    code = page.inner_text("#invite-code")
    assert len(code) >= 6
    watched.check()
    admin = db.session.scalar(select(User).where(User.email == ADMIN_EMAIL))
    enrolled = [p for p in api(admin, "/patients?page_size=100").json["items"] if p["display_name"] == "Robin Example"]
    assert len(enrolled) == 1

    newcomer = make.clinician(admin.organization, name="Dr Newcomer")  # on no care team yet
    db.session.commit()
    page.reload()
    page.wait_for_selector("#audit-total:not(:empty)")
    page.select_option("#team-patient", str(enrolled[0]["id"]))
    assert page.is_visible(f"#team-clinician-{newcomer.id}")
    clinician_id = db.session.scalar(select(User.id).where(User.email == CLINICIANS[1][0]))
    page.check(f"#team-clinician-{clinician_id}")
    page.click("#team-form button[type=submit]")
    page.wait_for_selector("#status:has-text('Care team of Robin Example saved')")
    watched.check()
    team = api(admin, f"/patients/{enrolled[0]['id']}").json["care_team"]
    assert clinician_id in [member["id"] for member in team]


def test_fifteen_quiet_minutes_sign_the_browser_out(watched, make):
    clinician = make.clinician()
    page = watched.page
    page.clock.install()

    watched.sign_in(clinician.email, PASSWORD)
    page.wait_for_url("**/caseload")
    page.wait_for_selector("#caseload-total:not(:empty)")
    page.clock.run_for(16 * 60 * 1000)

    page.wait_for_url("**/signin?reason=idle")
    page.wait_for_selector("#status:has-text('15 minutes')")
    assert watched.context.cookies() == [c for c in watched.context.cookies() if c["name"] == "waypoint_device"]
