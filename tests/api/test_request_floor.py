"""What every request pays was cut (issue #14); these hold the cuts to the promises.

A token's signature is verified once per process, yet its session still decides
on every request, and its expiry still ends it. The rate limiter's hooks run
only where a limit was checked, and the limited routes still count and say so.
"""
import time
from datetime import timedelta

from flask_jwt_extended import decode_token

from tests.factories import bearer, login, problem

MY_CHECKINS = "/api/v1/me/checkins"
LOGOUT = "/api/v1/auth/logout"


def test_a_token_already_verified_dies_with_its_session_on_the_next_request(client, patient):
    tokens = login(client, patient.email).json
    headers = bearer(tokens["access_token"])
    assert client.get(MY_CHECKINS, headers=headers).status_code == 200  # verified, and kept verified

    assert client.post(LOGOUT, headers=headers).status_code == 204

    assert problem(client.get(MY_CHECKINS, headers=headers), 401)["type"].endswith("token-revoked")


def test_a_token_already_verified_is_refused_once_it_expires(client, app, patient):
    # Three seconds: exp is in whole seconds, so the token lives 2-3 s, room
    # for the first read on a busy machine (one second flaked in CI).
    app.config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(seconds=3)
    token = login(client, patient.email).json["access_token"]
    headers = bearer(token)
    assert client.get(MY_CHECKINS, headers=headers).status_code == 200

    time.sleep(max(decode_token(token)["exp"] - time.time(), 0) + 0.2)

    assert problem(client.get(MY_CHECKINS, headers=headers), 401)["type"].endswith("token-expired")


def test_a_token_already_verified_is_refused_once_the_signing_key_changes(client, app, patient):
    headers = bearer(login(client, patient.email).json["access_token"])
    assert client.get(MY_CHECKINS, headers=headers).status_code == 200

    app.config["JWT_SECRET_KEY"] = "another-key-" + "x" * 40  # a rotated key: tokens signed before it are forged now

    assert problem(client.get(MY_CHECKINS, headers=headers), 401)["status"] == 401


def test_a_token_already_verified_is_refused_once_its_audience_is_required(client, app, patient):
    headers = bearer(login(client, patient.email).json["access_token"])
    assert client.get(MY_CHECKINS, headers=headers).status_code == 200

    app.config["JWT_DECODE_AUDIENCE"] = ["waypoint-web"]  # a list, as flask-jwt-extended allows

    assert problem(client.get(MY_CHECKINS, headers=headers), 401)["status"] == 401


def test_only_a_limited_route_answers_with_its_limit(client, patient):
    signed_in = login(client, patient.email)
    assert signed_in.status_code == 200 and "X-RateLimit-Limit" in signed_in.headers

    read = client.get(MY_CHECKINS, headers=bearer(signed_in.json["access_token"]))

    assert read.status_code == 200 and not any(name.startswith("X-RateLimit") for name, _value in read.headers)
