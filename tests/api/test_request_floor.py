"""What every request pays was cut (issue #14); these hold the cuts to the promises.

A token's signature is verified once per process, yet its session still decides
on every request, and its expiry still ends it. The rate limiter's hooks run
only where a limit was checked, and the limited routes still count and say so.
"""
import time
from datetime import timedelta

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
    app.config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(seconds=1)
    headers = bearer(login(client, patient.email).json["access_token"])
    assert client.get(MY_CHECKINS, headers=headers).status_code == 200

    time.sleep(2.1)  # the token's exp is in whole seconds

    assert problem(client.get(MY_CHECKINS, headers=headers), 401)["type"].endswith("token-expired")


def test_only_a_limited_route_answers_with_its_limit(client, patient):
    signed_in = login(client, patient.email)
    assert signed_in.status_code == 200 and "X-RateLimit-Limit" in signed_in.headers

    read = client.get(MY_CHECKINS, headers=bearer(signed_in.json["access_token"]))

    assert read.status_code == 200 and not any(name.startswith("X-RateLimit") for name, _value in read.headers)
