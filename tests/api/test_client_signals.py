"""What a client branches on without reading English: the token's fault, the media type, If-Match: *."""
from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token
from sqlalchemy import select

from models import AuthSession, Checkin, db
from tests.factories import PASSWORD, bearer, checkin_body, problem

ME, LOGOUT, TODAY = "/api/v1/me", "/api/v1/auth/logout", "2026-11-23"  # the frozen clock's day
TYPE = "https://waypoint.example/problems/"


@pytest.fixture
def tokens(client, patient):
    response = client.post("/api/v1/auth/login", json={"email": patient.email, "password": PASSWORD})
    assert response.status_code == 200, response.json
    return response.json


# --- which token problem: refresh, or sign in again ----------------------------------

def test_no_token_is_token_missing(client):
    assert problem(client.get(ME), 401)["type"] == TYPE + "token-missing"


@pytest.mark.parametrize("token", ["not.a.token", "garbage"])
def test_a_malformed_token_is_token_invalid(client, token):
    assert problem(client.get(ME, headers=bearer(token)), 401)["type"] == TYPE + "token-invalid"


def test_a_refresh_token_used_as_access_is_token_invalid(client, tokens):
    response = client.get(ME, headers=bearer(tokens["refresh_token"]))

    assert problem(response, 401)["type"] == TYPE + "token-invalid"


def test_an_expired_access_token_is_token_expired_so_the_phone_refreshes(client, patient, tokens):
    session_id = db.session.scalars(select(AuthSession.id)).one()
    expired = create_access_token(identity=str(patient.id), expires_delta=timedelta(seconds=-1),
                                  additional_claims={"sid": session_id, "role": "patient"})

    response = client.get(ME, headers=bearer(expired))

    assert problem(response, 401)["type"] == TYPE + "token-expired"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="waypoint"'


def test_a_token_of_an_ended_session_is_token_revoked_so_the_phone_signs_in_again(client, tokens):
    assert client.post(LOGOUT, headers=bearer(tokens["access_token"])).status_code == 204

    response = client.get(ME, headers=bearer(tokens["access_token"]))

    assert problem(response, 401)["type"] == TYPE + "token-revoked"


def test_a_wrong_password_keeps_its_one_answer(client, patient):
    response = client.post("/api/v1/auth/login", json={"email": patient.email, "password": "not it at all"})

    assert problem(response, 401)["type"] == TYPE + "unauthorized"


# --- a body in another media type: 415, not "Missing data" for every field -----------

@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_json_body_sent_as_another_media_type_is_415(client, make, patient, count, content_type):
    headers = {**make.headers(patient)}
    if content_type:
        headers["Content-Type"] = content_type
    body = b'{"craving": 3}'

    response = client.put(f"/api/v1/me/checkins/{TODAY}", headers=headers, data=body)

    answer = problem(response, 415)
    assert answer["type"] == TYPE + "unsupported-media-type"
    assert "application/json" in answer["detail"]
    assert count(Checkin) == 0


def test_json_with_a_charset_is_still_json(client, make, patient):
    import json
    response = client.put(f"/api/v1/me/checkins/{TODAY}", data=json.dumps(checkin_body()),
                          headers={**make.headers(patient), "Content-Type": "application/json; charset=utf-8"})

    assert response.status_code == 201, response.json


def test_a_route_without_a_body_ignores_the_media_type(client, make, patient):
    response = client.get(ME, headers={**make.headers(patient), "Content-Type": "text/plain"}, data=b"x")

    assert response.status_code == 200


# --- If-Match: * means "the current one", so it never creates (RFC 9110 13.1.1) ------

def test_if_match_any_on_a_day_without_a_checkin_is_412_and_creates_nothing(client, make, patient, count):
    response = client.put(f"/api/v1/me/checkins/{TODAY}", json=checkin_body(),
                          headers={**make.headers(patient), "If-Match": "*"})

    assert problem(response, 412)["type"] == TYPE + "stale-version"
    assert count(Checkin) == 0


def test_if_match_any_edits_a_day_that_has_a_checkin(client, make, patient):
    auth = make.headers(patient)
    client.put(f"/api/v1/me/checkins/{TODAY}", json=checkin_body(craving=2), headers=auth)

    response = client.put(f"/api/v1/me/checkins/{TODAY}", json=checkin_body(craving=6),
                          headers={**auth, "If-Match": "*"})

    assert response.status_code == 200, response.json
    assert (response.json["craving"], response.headers["ETag"]) == (6, '"2"')
