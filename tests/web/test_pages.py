"""The pages: HTML under a strict policy, never cached; the browser session behind its HttpOnly cookie."""

import pytest

from tests.factories import PASSWORD, problem

PAGES = ["/signin", "/caseload", "/alerts", "/patients/1", "/admin", "/summary?week=2026-W47",
         "/settings/notifications", "/checkin"]


@pytest.mark.parametrize("path", PAGES)
def test_a_page_is_html_under_a_strict_policy_and_never_cached(client, path):
    response = client.get(path)

    assert response.status_code == 200 and response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy and "style-src 'self';" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert "<script>" not in body and "style=" not in body and "http" not in body.replace("http-equiv", "")


def test_the_home_page_leads_to_the_caseload(client):
    assert client.get("/").headers["Location"] == "/caseload"


def test_an_unknown_page_is_a_problem_not_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def sign_in(client, user):
    return client.post("/web/session", json={"email": user.email, "password": PASSWORD})


def csrf(client) -> dict:
    return {"X-CSRF-TOKEN": client.get_cookie("csrf_refresh_token").value}


def test_signing_in_answers_the_access_token_and_keeps_the_refresh_token_in_an_httponly_cookie(client, make):
    clinician = make.clinician()

    response = sign_in(client, clinician)

    assert response.status_code == 200
    assert set(response.json) == {"access_token", "expires_in", "role", "display_name"}
    cookies = {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}
    refresh = cookies["refresh_token_cookie"]
    assert "HttpOnly" in refresh and "SameSite=Strict" in refresh and "Path=/web/session" in refresh
    assert "Max-Age=900" in refresh  # an idle browser loses it after 15 minutes
    assert "HttpOnly" not in cookies["csrf_refresh_token"]  # the page sends it back as X-CSRF-TOKEN
    assert "HttpOnly" in cookies["waypoint_device"] and "Path=/web/session" in cookies["waypoint_device"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {response.json['access_token']}"})
    assert me.json["id"] == clinician.id


def test_a_wrong_password_is_a_401_problem(client, make):
    response = client.post("/web/session", json={"email": make.clinician().email, "password": "wrong"})
    assert response.status_code == 401 and response.mimetype == "application/problem+json"


def test_refreshing_needs_the_csrf_value_from_the_page(client, make):
    sign_in(client, make.clinician())

    assert client.post("/web/session/refresh").status_code == 401
    assert client.post("/web/session/refresh", headers={"X-CSRF-TOKEN": "forged"}).status_code == 401
    assert client.post("/web/session/refresh", headers=csrf(client)).status_code == 200


def test_fifteen_idle_minutes_end_the_web_session(client, make, clock):
    sign_in(client, make.clinician())
    headers = csrf(client)

    clock.advance(minutes=16)

    response = client.post("/web/session/refresh", headers=headers)
    assert response.status_code == 401 and response.json["type"].endswith("session-expired")


def test_activity_keeps_the_web_session(client, make, clock):
    sign_in(client, make.clinician())
    for _ in range(3):
        clock.advance(minutes=10)
        assert client.post("/web/session/refresh", headers=csrf(client)).status_code == 200


@pytest.mark.parametrize("revoke", ["logout_everywhere", "disable", "password_change"])
def test_the_apis_revocations_end_the_web_session(client, make, clock, revoke):
    clinician = make.clinician()
    sign_in(client, clinician)
    headers = csrf(client)
    clock.advance(seconds=2)
    if revoke == "logout_everywhere":
        assert client.post("/api/v1/auth/logout-everywhere", headers=make.headers(clinician)).status_code == 204
    elif revoke == "disable":
        admin = make.admin(clinician.organization)
        assert client.post(f"/api/v1/users/{clinician.id}/disable", headers=make.headers(admin)).status_code == 204
    else:
        answer = client.post("/api/v1/me/password", headers=make.headers(clinician), json={
            "current_password": PASSWORD, "new_password": "a brand new lantern harbour phrase"})
        assert answer.status_code == 200
    clock.advance(seconds=2)

    assert client.post("/web/session/refresh", headers=headers).status_code == 401


def test_signing_out_ends_the_session(client, make):
    sign_in(client, make.clinician())
    headers = csrf(client)
    old_refresh = client.get_cookie("refresh_token_cookie", path="/web/session").value

    assert client.post("/web/session/sign-out", headers=headers).status_code == 200

    client.set_cookie("refresh_token_cookie", old_refresh, path="/web/session")
    assert client.post("/web/session/refresh", headers=headers).status_code == 401


def test_the_web_sign_in_refresh_and_sign_out_are_in_the_audit_trail(client, make):
    from sqlalchemy import select

    from models import AuditEvent, db

    clinician = make.clinician()
    client.post("/web/session", json={"email": clinician.email, "password": "wrong"})
    sign_in(client, clinician)
    client.post("/web/session/refresh", headers=csrf(client))
    client.post("/web/session/sign-out", headers=csrf(client))

    trail = db.session.execute(select(AuditEvent.action, AuditEvent.outcome, AuditEvent.actor_id)
                               .order_by(AuditEvent.id)).all()
    assert [tuple(row) for row in trail] == [
        ("login", "denied", clinician.id), ("login", "allowed", clinician.id),
        ("refresh", "allowed", clinician.id), ("logout", "allowed", clinician.id)]


def test_guesses_at_an_address_do_not_throttle_its_owners_browser(client, app, make):
    patient = make.patient()
    assert sign_in(client, patient).status_code == 200  # this browser now holds the device cookie
    stranger = app.test_client()
    for _ in range(5):  # LOGIN_LIMITS_PER_ACCOUNT: 5 a minute
        stranger.post("/web/session", json={"email": patient.email, "password": "not the password"})
    problem(stranger.post("/web/session", json={"email": patient.email, "password": PASSWORD}), 429)

    assert sign_in(client, patient).status_code == 200
