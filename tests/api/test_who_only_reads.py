"""A read that needs only who the caller is checks the token in full and builds no user (issue #14).

`@authenticated(who_only=True)` views (the patient's own check-ins) read the
token's holder through one narrow statement instead of building the user
with profile and organization; every other view builds the user in the
statement that checks the token. Either way the token's session, its cut-off
and the account's state decide on the very request.
"""
import pytest

from models import db
from tests.factories import bearer, login, problem
from tests.queries import statements_run

MY_CHECKINS = "/api/v1/me/checkins"
MY_DAY = "/api/v1/me/checkins/2026-01-05"
MY_SUMMARY = "/api/v1/me/summary"
WHO_ONLY_READS = [MY_CHECKINS, MY_DAY]


def _built_a_user(statements: list[str]) -> bool:
    # Building a User selects every column of users; the holder's check selects four.
    return any("users.password_hash" in statement for statement in statements)


def test_the_patients_own_check_ins_are_read_without_building_the_user(client, auth):
    with statements_run() as statements:
        assert client.get(MY_CHECKINS, headers=auth).status_code == 200

    assert statements and not _built_a_user(statements)


def test_a_view_that_reads_the_user_builds_it_in_the_tokens_own_statement(client, auth):
    with statements_run() as statements:
        assert client.get(MY_SUMMARY, headers=auth).status_code == 200

    users_built = [statement for statement in statements if "users.password_hash" in statement]
    assert len(users_built) == 1 and "auth_sessions" in users_built[0]


@pytest.mark.parametrize("path", WHO_ONLY_READS)
def test_a_who_only_read_dies_with_the_session_on_the_next_request(client, patient, path):
    headers = bearer(login(client, patient.email).json["access_token"])
    assert client.get(path, headers=headers).status_code in (200, 404)

    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204

    assert problem(client.get(path, headers=headers), 401)["type"].endswith("token-revoked")


@pytest.mark.parametrize("path", [*WHO_ONLY_READS, MY_SUMMARY])
def test_a_disabled_account_is_refused_on_its_next_request_whatever_the_view(client, patient, path):
    headers = bearer(login(client, patient.email).json["access_token"])
    assert client.get(path, headers=headers).status_code in (200, 404)

    patient.is_active = False  # disabled without ending its sessions: the account's state alone decides
    db.session.commit()

    refused = problem(client.get(path, headers=headers), 401)
    assert refused["type"].endswith("unauthorized") and refused["detail"] == "The account is unknown or disabled."


@pytest.mark.parametrize("path", WHO_ONLY_READS)
def test_a_clinician_has_no_check_ins_of_their_own(client, clinician_auth, path):
    refused = problem(client.get(path, headers=clinician_auth), 403)

    assert refused["detail"] == "Only patients have check-ins of their own."

