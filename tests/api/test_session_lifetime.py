"""A session ends 30 days after its sign-in, however often it is refreshed (ASVS 5.0 7.3.2)."""
from datetime import timedelta

from sqlalchemy import select

from models import AuthSession, db
from tests.factories import PASSWORD, bearer, problem, refresh

LOGIN, REFRESH, ME = "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/me"
EXPIRED = "https://waypoint.example/problems/session-expired"


def signed_in(client, make):
    response = client.post(LOGIN, json={"email": make.clinician().email, "password": PASSWORD})
    assert response.status_code == 200, response.json
    return response.json


def test_refreshing_keeps_a_session_alive_only_until_30_days_after_sign_in(client, clock, make):
    tokens = signed_in(client, make)
    for _ in range(29):
        clock.advance(days=1)
        response = refresh(client, tokens)
        assert response.status_code == 200, response.json
        tokens = response.json
    clock.advance(hours=23, minutes=59)
    tokens = refresh(client, tokens).json

    clock.advance(minutes=1)
    body = problem(refresh(client, tokens), 401)

    assert body["type"] == EXPIRED and "log in again" in body["detail"]
    session = db.session.scalars(select(AuthSession).execution_options(populate_existing=True)).one()
    assert (session.revoked_at, session.revoked_reason) == (clock(), "expired")
    # The session is over for its access token too, and a retry of the refresh.
    problem(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    problem(refresh(client, tokens), 401)


def test_a_new_sign_in_starts_a_new_lifetime(client, clock, make):
    signed_in(client, make)
    clock.advance(days=31)

    assert refresh(client, signed_in(client, make)).status_code == 200


def test_the_lifetime_follows_the_configuration(app, client, clock, make):
    app.config["SESSION_LIFETIME"] = timedelta(hours=12)
    tokens = signed_in(client, make)
    clock.advance(hours=11)
    tokens = refresh(client, tokens).json

    clock.advance(hours=1)

    assert problem(refresh(client, tokens), 401)["type"] == EXPIRED
