"""E-mail preferences (patients), unsubscribe links (no login), the delivery ledger (admins)."""
from datetime import date, datetime, time, timezone

import pytest

from models import Delivery, NotificationPreference, db
from services.preferences import unsubscribe_token

from ..factories import problem

URL = "/api/v1/me/preferences"
DEFAULTS = {"weekly_summary": "notice", "reminders_enabled": True, "reminder_time": "19:00",
            "reminders_paused_until": None, "updated_at": None}
VALID = {"weekly_summary": "detailed", "reminders_enabled": True, "reminder_time": "07:30",
         "reminders_paused_until": "2026-11-30"}


def stored(user_id):
    db.session.expire_all()
    return db.session.get(NotificationPreference, user_id)


# --- /me/preferences -------------------------------------------------------------------------

def test_a_patient_without_preferences_reads_the_defaults(client, make):
    response = client.get(URL, headers=make.headers(make.patient()))
    assert response.status_code == 200 and response.get_json() == DEFAULTS


def test_a_patient_replaces_their_preferences(client, make, clock):
    patient = make.patient()  # New York: today is 2026-11-23
    headers = make.headers(patient)
    response = client.put(URL, json=VALID, headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {**VALID, "updated_at": "2026-11-23T17:00:00+00:00"}
    row = stored(patient.id)
    assert (row.weekly_summary, row.reminder_time, row.reminders_paused_until) == (
        "detailed", time(7, 30), date(2026, 11, 30))
    again = client.put(URL, json={**VALID, "weekly_summary": "off", "reminders_paused_until": None}, headers=headers)
    assert again.get_json()["weekly_summary"] == "off" and again.get_json()["reminders_paused_until"] is None
    assert client.get(URL, headers=headers).get_json()["weekly_summary"] == "off"


def test_a_pause_may_end_today(client, make, clock):
    response = client.put(URL, json={**VALID, "reminders_paused_until": "2026-11-23"},
                          headers=make.headers(make.patient()))
    assert response.status_code == 200


@pytest.mark.parametrize(("change", "field"), [
    ({"weekly_summary": "weekly"}, "weekly_summary"),
    ({"weekly_summary": None}, "weekly_summary"),
    ({"reminders_enabled": "yes"}, "reminders_enabled"),
    ({"reminders_enabled": 1}, "reminders_enabled"),
    ({"reminder_time": "7pm"}, "reminder_time"),
    ({"reminder_time": "24:00"}, "reminder_time"),
    ({"reminder_time": "19:00:00"}, "reminder_time"),
    ({"reminder_time": "9:00"}, "reminder_time"),
    ({"reminder_time": 1900}, "reminder_time"),
    ({"reminders_paused_until": "2026-13-01"}, "reminders_paused_until"),
    ({"reminders_paused_until": "20261130"}, "reminders_paused_until"),
    ({"reminders_paused_until": "2026-11-22"}, "reminders_paused_until"),  # yesterday in New York
    ({"reminders_paused_until": "2027-11-25"}, "reminders_paused_until"),  # over a year ahead
    ({"surprise": True}, "surprise"),
])
def test_bad_values_are_refused_and_nothing_is_written(client, make, clock, change, field):
    patient = make.patient()
    body = problem(client.put(URL, json={**VALID, **change}, headers=make.headers(patient)), 422)
    assert field in body["errors"]
    assert stored(patient.id) is None


@pytest.mark.parametrize("missing", ["weekly_summary", "reminders_enabled", "reminder_time"])
def test_put_replaces_the_whole_set(client, make, missing):
    patient = make.patient()
    body = {key: value for key, value in VALID.items() if key != missing}
    assert missing in problem(client.put(URL, json=body, headers=make.headers(patient)), 422)["errors"]
    assert stored(patient.id) is None


@pytest.mark.parametrize("role", ["clinician", "admin"])
@pytest.mark.parametrize("method", ["get", "put"])
def test_preferences_are_the_patients_own(client, make, role, method):
    staff = make.clinician() if role == "clinician" else make.admin()
    response = getattr(client, method)(URL, json=VALID if method == "put" else None, headers=make.headers(staff))
    problem(response, 403)
    assert stored(staff.id) is None


@pytest.mark.parametrize("method", ["get", "put"])
def test_preferences_need_a_login(client, method):
    problem(getattr(client, method)(URL, json=VALID), 401)


# --- unsubscribe links ----------------------------------------------------------------------------

def unsubscribe_url(user, scope="weekly_summary"):
    return f"/api/v1/unsubscribe/{unsubscribe_token(user.id, scope)}"


def test_following_the_link_asks_first_and_changes_nothing(client, make):
    patient = make.patient()
    response = client.get(unsubscribe_url(patient))
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Unsubscribe?" in page and "weekly summary e-mails" in page and '<form method="post">' in page
    assert patient.email not in page
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Referrer-Policy"] == "no-referrer"
    assert stored(patient.id) is None


@pytest.mark.parametrize(("scope", "changed"), [
    ("weekly_summary", ("off", True)),
    ("daily_reminder", ("notice", False)),
])
def test_confirming_unsubscribes_without_logging_in(client, make, clock, scope, changed):
    patient = make.patient()
    response = client.post(unsubscribe_url(patient, scope))
    assert response.status_code == 200 and "Unsubscribed" in response.get_data(as_text=True)
    row = stored(patient.id)
    assert (row.weekly_summary, row.reminders_enabled) == changed
    assert row.updated_at == datetime(2026, 11, 23, 17, tzinfo=timezone.utc)
    assert client.post(unsubscribe_url(patient, scope)).status_code == 200  # twice changes nothing
    assert "Already unsubscribed" in client.get(unsubscribe_url(patient, scope)).get_data(as_text=True)


def test_a_mail_clients_one_click_unsubscribe_works(client, make):
    clinician = make.clinician()
    response = client.post(unsubscribe_url(clinician, "clinician_digest"), data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert stored(clinician.id).weekly_summary == "off"


@pytest.mark.parametrize("token", ["nonsense", "WzEsICJ3ZWVrbHlfc3VtbWFyeSJd.forged"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_forged_or_damaged_link_is_not_found(client, make, token, method):
    patient = make.patient()
    problem(getattr(client, method)(f"/api/v1/unsubscribe/{token}"), 404)
    problem(getattr(client, method)(unsubscribe_url(patient)[:-2]), 404)
    assert stored(patient.id) is None


def test_a_link_signed_with_another_secret_is_not_found(app, client, make):
    patient = make.patient()
    url = unsubscribe_url(patient)
    app.config["JWT_SECRET_KEY"] = "another-secret-of-at-least-thirty-two-chars"
    problem(client.post(url), 404)


# --- the delivery ledger for admins ----------------------------------------------------------------

def delivery(recipient, status="sent", kind="weekly_summary", period="2026-W47", error=None):
    row = Delivery(recipient_id=recipient.id, kind=kind, period=period, status=status, attempts=1,
                   message_id=f"<{kind}.{period}.{recipient.id}@test>", last_error=error)
    db.session.add(row)
    db.session.commit()
    return row


def test_admins_see_their_organizations_failed_deliveries(client, make):
    admin = make.admin()
    patient = make.patient(organization=admin.organization)
    clinician = make.clinician(admin.organization)
    failed = delivery(patient, "failed", error="recipient refused: 550 5.1.1 No such mailbox")
    delivery(patient, "sent", period="2026-W46")
    digest = delivery(clinician, "failed", kind="clinician_digest")
    delivery(make.patient(), "failed")  # another organization
    headers = make.headers(admin)

    response = client.get("/api/v1/deliveries?status=failed", headers=headers)
    assert response.status_code == 200
    page = response.get_json()
    assert page["total"] == 2 and [item["id"] for item in page["items"]] == [digest.id, failed.id]
    item = page["items"][1]
    assert item["recipient"] == {"id": patient.id, "display_name": patient.display_name, "email": patient.email,
                                 "role": "patient"}
    assert (item["kind"], item["period"], item["status"], item["attempts"]) == (
        "weekly_summary", "2026-W47", "failed", 1)
    assert item["last_error"] == "recipient refused: 550 5.1.1 No such mailbox"
    everything = client.get("/api/v1/deliveries", headers=headers).get_json()
    assert everything["total"] == 3
    only_digests = client.get("/api/v1/deliveries?kind=clinician_digest", headers=headers).get_json()
    assert [item["id"] for item in only_digests["items"]] == [digest.id]


@pytest.mark.parametrize("role", ["patient", "clinician"])
def test_only_admins_see_deliveries(client, make, role):
    user = make.patient() if role == "patient" else make.clinician()
    delivery(user, "failed")
    problem(client.get("/api/v1/deliveries?status=failed", headers=make.headers(user)), 403)


def test_deliveries_need_a_login(client):
    problem(client.get("/api/v1/deliveries"), 401)


@pytest.mark.parametrize("query", ["status=bounced", "kind=sms", "page=0", "page_size=500"])
def test_bad_delivery_queries_are_refused(client, make, query):
    problem(client.get(f"/api/v1/deliveries?{query}", headers=make.headers(make.admin())), 422)
