"""Every link in every e-mail Waypoint sends opens a working page, and one-click unsubscribe is one header line."""
import html
import re
from datetime import date, datetime, timedelta, timezone

from jobs.reminders import daily_reminders
from jobs.weekly import clinician_digests, weekly_summaries
from models import db
from services.alerts import raise_alert
from services.password_reset import request_password_reset
from tests.jobs.support import ENROLLED_AT, set_preferences

BASE = "https://waypoint.example.org"
LINK = re.compile(r"https?://[^\s\"'<>]+")
W47 = date(2026, 11, 16)


def _enrolled(make, clinician, **preferences):
    patient = make.patient(clinician)
    patient.patient_profile.enrolled_at = ENROLLED_AT
    db.session.commit()
    set_preferences(patient, **preferences)
    return patient


def _every_kind_of_email(make, clock, sent_mail):
    """Send one e-mail of each kind: weekly summary and notice, digest, reminder, urgent notice, password reset."""
    clinician = make.clinician()
    detailed = _enrolled(make, clinician, weekly_summary="detailed")
    _enrolled(make, clinician)  # the default weekly e-mail: a notice with a link
    for offset in range(5):
        make.checkin(detailed, W47 + timedelta(days=offset))
    db.session.commit()
    weekly_summaries(clock.now)
    clinician_digests(clock.now)
    raise_alert(detailed, "self_harm", "urgent", "Self-harm thoughts reported", {}, clock.now.date(), clock.now)
    request_password_reset(clinician.email, clock.now)
    db.session.commit()
    list(sent_mail)  # sends what is owed now: a reset link is written only while fresh
    clock.now = datetime(2026, 11, 24, 0, 5, tzinfo=timezone.utc)  # 19:05 in New York: reminders are due
    daily_reminders(clock.now)
    return list(sent_mail)


def _links(message) -> set[str]:
    found = set(LINK.findall(message.text)) | set(LINK.findall(message.html or ""))
    found |= set(LINK.findall(message.message.get("List-Unsubscribe", "")))
    return {html.unescape(link).rstrip(".,)") for link in found}


def test_every_link_in_every_kind_of_email_opens_a_page(app, make, clock, sent_mail):
    app.config["PUBLIC_BASE_URL"] = BASE + "/"
    messages = _every_kind_of_email(make, clock, sent_mail)
    subjects = {m.subject for m in messages}
    assert {"Your weekly summary is ready", "A moment for today's check-in?"} <= subjects
    assert any(s.startswith("Your Waypoint week") for s in subjects)
    assert any(s.startswith("Your Waypoint caseload") for s in subjects)
    assert len(subjects) >= 6, subjects  # plus the urgent notice and the password reset

    client = app.test_client()
    opened = {}
    for message in messages:
        for link in _links(message):
            if not link.startswith(BASE):
                continue  # a crisis line's own site, say: not ours to serve
            path = link[len(BASE):].split("#")[0]
            response = client.get(path)
            opened[path.split("?")[0]] = response.status_code
            assert response.status_code == 200, (message.subject, link)
            assert response.mimetype == "text/html", (message.subject, link)
    assert {"/caseload", "/alerts", "/summary", "/settings/notifications", "/checkin",
            "/api/v1/password-reset"} <= set(opened)
    assert any(path.startswith("/api/v1/unsubscribe/") for path in opened)


def test_list_unsubscribe_goes_out_as_one_plain_header_line_each(app, make, clock, sent_mail, tmp_path):
    app.config["PUBLIC_BASE_URL"] = BASE + "/"
    clinician = make.clinician()
    _enrolled(make, clinician)
    weekly_summaries(clock.now)
    list(sent_mail)

    [raw] = [path.read_bytes() for path in (tmp_path / "outbox").glob("*.eml")]
    header_block = raw.split(b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n", 1)[0]
    lines = re.split(rb"\r?\n", header_block)
    [unsubscribe] = [line for line in lines if line.startswith(b"List-Unsubscribe:")]
    [one_click] = [line for line in lines if line.startswith(b"List-Unsubscribe-Post:")]
    assert re.fullmatch(rb"List-Unsubscribe: <" + re.escape(BASE.encode()) + rb"/api/v1/unsubscribe/[^>\s]+>",
                        unsubscribe), unsubscribe
    assert one_click == b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"
    # Not folded: the line after each is another header, not a continuation.
    for header in (unsubscribe, one_click):
        following = lines[lines.index(header) + 1] if lines.index(header) + 1 < len(lines) else b""
        assert not following[:1].isspace()
