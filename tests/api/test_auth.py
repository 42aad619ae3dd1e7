"""Log in, rotate refresh tokens, log out; every bad token is a 401 problem."""
import base64
import json
from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import select

from models import AuditEvent, AuthSession, User, db
from services import sessions
from services.lockout import address_lockout
from services.passwords import hash_password
from tests.factories import PASSWORD, bearer, login, problem, refresh

LOGIN, REFRESH, LOGOUT, ME = "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/me"


def me(client, tokens):
    return client.get(ME, headers=bearer(tokens["access_token"]))


@pytest.fixture
def clinician(make):
    # Named: tests read the name in /me and look for it where it must not be.
    return make.clinician(name="Dr Rivera")


@pytest.fixture
def tokens(client, clinician):
    response = login(client, clinician.email)
    assert response.status_code == 200, response.json
    return response.json


# --- logging in ------------------------------------------------------------

def test_login_returns_a_short_lived_access_token_and_a_refresh_token(client, clinician, tokens):
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in", "device_token"}
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 15 * 60
    assert me(client, tokens).json["display_name"] == "Dr Rivera"


def test_the_email_is_matched_whatever_its_case(client, clinician):
    assert login(client, clinician.email.upper()).status_code == 200


# --- one address, accounts in two organizations ------------------------------

@pytest.fixture
def two_programs(make):
    """Sam is a patient at one program and, with another password, at a second."""
    first = make.patient(name="Sam at Harbor")
    second = make.patient(organization=make.organization(), name="Sam at Ridge")
    second.email = first.email
    second.password_hash = hash_password("another long password")
    db.session.commit()
    return first, second


def test_the_password_says_which_organizations_account_signs_in(client, two_programs):
    first, _ = two_programs

    assert me(client, login(client, first.email).json).json["display_name"] == "Sam at Harbor"
    assert me(client, login(client, first.email, "another long password").json).json["display_name"] == "Sam at Ridge"


def test_with_the_same_password_the_newest_account_signs_in(client, two_programs):
    first, second = two_programs
    second.password_hash = first.password_hash
    db.session.commit()

    assert me(client, login(client, first.email).json).json["display_name"] == "Sam at Ridge"


def test_a_wrong_password_counts_once_against_the_address_whatever_its_accounts(client, two_programs):
    first, second = two_programs

    assert login(client, first.email, "not the password").status_code == 401

    assert address_lockout(first.email).failed_logins == 1
    # The attempt lands in one trail, the newest account's (one row, not an error).
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login")).all()
    assert (event.actor_id, event.outcome) == (second.id, "denied")


@pytest.mark.parametrize("accounts", [0, 1, 2])
@pytest.mark.parametrize("password", [PASSWORD, "not the password"])
def test_a_login_verifies_as_many_hashes_whether_the_address_has_one_account_or_two(
        client, make, verified_hashes, accounts, password):
    """Its time must not tell a program that the person has an account at another (treatment elsewhere)."""
    email = "sam@example.org"
    for number in range(accounts):
        user = make.patient(organization=make.organization(), name=f"Sam {number}")
        user.email = email
    db.session.commit()

    response = login(client, email, password)

    assert response.status_code == (200 if accounts and password == PASSWORD else 401)
    assert len(verified_hashes) == sessions.LOGIN_VERIFICATIONS == 2


def test_an_address_with_more_accounts_than_that_verifies_each(client, make, verified_hashes):
    email = "sam@example.org"
    for number in range(3):
        make.patient(organization=make.organization(), name=f"Sam {number}").email = email
    db.session.commit()

    assert login(client, email).status_code == 200
    assert len(verified_hashes) == 3 and None not in verified_hashes


@pytest.fixture
def unregistered_email(make):
    return make.patient(registered=False).email


@pytest.fixture
def disabled_email(make):
    user = make.clinician()
    user.is_active = False
    db.session.commit()
    return user.email


@pytest.mark.parametrize("case", ["wrong password", "unknown email", "not yet registered", "disabled"])
def test_every_failed_login_gets_the_same_401(client, request, clinician, count, case):
    email, password = {
        "wrong password": lambda: (clinician.email, "not the password"),
        "unknown email": lambda: ("nobody@example.org", PASSWORD),
        "not yet registered": lambda: (request.getfixturevalue("unregistered_email"), PASSWORD),
        "disabled": lambda: (request.getfixturevalue("disabled_email"), PASSWORD),
    }[case]()
    sessions = count(AuthSession)

    response = login(client, email, password)

    body = problem(response, 401)
    assert body == {"type": "https://waypoint.example/problems/unauthorized", "title": "Unauthorized",
                    "status": 401, "detail": "Wrong e-mail or password."}
    assert count(AuthSession) == sessions


@pytest.mark.parametrize("body, field", [
    ({"password": PASSWORD}, "email"), ({"email": "a@example.org"}, "password"),
    ({"email": "a@example.org", "password": ""}, "password"),
    ({"email": "a@example.org", "password": PASSWORD, "remember": True}, "remember"),
    ({"email": 42, "password": PASSWORD}, "email"),
])
def test_a_malformed_login_is_refused_per_field(client, body, field):
    assert field in problem(client.post(LOGIN, json=body), 422)["errors"]


# --- who am I --------------------------------------------------------------

def test_me_shows_a_patient_their_own_profile(client, make):
    patient = make.patient(timezone="Europe/Dublin", name="Robin")
    organization_id = patient.organization_id

    response = client.get(ME, headers=make.headers(patient))

    assert response.status_code == 200
    assert response.json["role"] == "patient" and response.json["display_name"] == "Robin"
    assert response.json["organization"]["id"] == organization_id
    assert response.json["patient"]["timezone"] == "Europe/Dublin"
    assert "password_hash" not in response.get_data(as_text=True)
    assert "care_team" not in response.json["patient"]


def test_me_shows_staff_without_a_patient_profile(client, tokens):
    body = me(client, tokens).json

    assert body["role"] == "clinician" and body["patient"] is None


# --- refresh rotation ------------------------------------------------------

def test_refresh_returns_a_new_pair_that_works(client, tokens):
    rotated = refresh(client, tokens)

    assert rotated.status_code == 200, rotated.json
    assert rotated.json["refresh_token"] != tokens["refresh_token"]
    assert me(client, rotated.json).status_code == 200
    assert refresh(client, rotated.json).status_code == 200


def test_a_rotated_refresh_token_is_dead(client, tokens):
    refresh(client, tokens)

    problem(refresh(client, tokens), 401)


def test_presenting_a_dead_refresh_token_revokes_the_whole_family(client, tokens):
    rotated = refresh(client, tokens).json

    problem(refresh(client, tokens), 401)  # someone replays the stolen old token

    # The thief's replay ends the session for the rightful holder too.
    problem(refresh(client, rotated), 401)
    problem(me(client, rotated), 401)
    problem(me(client, tokens), 401)
    session = db.session.scalars(select(AuthSession).execution_options(populate_existing=True)).one()
    assert session.revoked_reason == "refresh_reuse"


def test_a_revoked_family_leaves_the_users_other_sessions_alone(client, clinician, tokens):
    other_device = login(client, clinician.email).json
    refresh(client, tokens)
    refresh(client, tokens)

    assert me(client, other_device).status_code == 200
    assert refresh(client, other_device).status_code == 200


# --- logging out -----------------------------------------------------------

def test_logout_ends_the_session_for_access_and_refresh(client, tokens):
    response = client.post(LOGOUT, headers=bearer(tokens["access_token"]))

    assert response.status_code == 204
    problem(me(client, tokens), 401)
    problem(refresh(client, tokens), 401)
    problem(client.post(LOGOUT, headers=bearer(tokens["access_token"])), 401)


def test_logout_ends_only_this_session(client, clinician, tokens):
    other_device = login(client, clinician.email).json

    client.post(LOGOUT, headers=bearer(tokens["access_token"]))

    assert me(client, other_device).status_code == 200


def test_a_disabled_account_is_shut_out_at_once(client, clinician, tokens):
    db.session.scalars(select(User)).one().is_active = False  # the clinician is the only account
    db.session.commit()

    problem(me(client, tokens), 401)
    problem(refresh(client, tokens), 401)


# --- bad tokens ------------------------------------------------------------

def test_an_access_token_is_not_a_refresh_token(client, tokens):
    problem(client.post(REFRESH, headers=bearer(tokens["access_token"])), 401)


def test_a_refresh_token_is_not_an_access_token(client, tokens):
    problem(client.get(ME, headers=bearer(tokens["refresh_token"])), 401)
    problem(client.post(LOGOUT, headers=bearer(tokens["refresh_token"])), 401)


@pytest.mark.parametrize("authorization", [
    "Bearer", "Bearer ", "bearer", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a b",
])
def test_a_malformed_authorization_header_is_a_401_problem(client, tokens, authorization):
    response = client.get(ME, headers={"Authorization": authorization})

    problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _forge(token: str, case: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if case == "tampered signature":
        return f"{header}.{payload}.{signature[:-4]}AAAA"
    if case == "tampered claims":
        return f"{header}.{_b64({**claims, 'sub': '1', 'role': 'admin'})}.{signature}"
    if case == "alg none":
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    if case == "no alg":
        return f"{_b64({'typ': 'JWT'})}.{payload}.{signature}"
    if case == "alg HS512":
        return f"{_b64({'alg': 'HS512', 'typ': 'JWT'})}.{payload}.{signature}"
    if case == "truncated":
        return f"{header}.{payload}"
    if case == "garbage":
        return "not.a.token"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["tampered signature", "tampered claims", "alg none", "no alg", "alg HS512",
                                  "truncated", "garbage"])
def test_a_forged_token_is_refused(client, tokens, case):
    response = client.get(ME, headers=bearer(_forge(tokens["access_token"], case)))

    body = problem(response, 401)
    assert "Dr Rivera" not in response.get_data(as_text=True)
    assert body["detail"]


def test_a_token_signed_with_another_secret_is_refused(client, app, make, clinician):
    tokens = make.tokens(clinician)
    session_id = db.session.scalars(select(AuthSession.id)).one()
    secret = app.config["JWT_SECRET_KEY"]
    app.config["JWT_SECRET_KEY"] = "someone-elses-secret-0123456789abcdef"
    forged = create_access_token(identity=str(clinician.id), additional_claims={"sid": session_id})
    app.config["JWT_SECRET_KEY"] = secret

    problem(client.get(ME, headers=bearer(forged)), 401)
    assert me(client, tokens).status_code == 200


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_an_expired_token_is_refused(client, app, make, clinician, kind):
    tokens = make.tokens(clinician)
    session_id = db.session.scalars(select(AuthSession.id)).one()
    claims = {"sid": session_id, "role": "clinician"}
    create = create_access_token if kind == "access" else create_refresh_token
    expired = create(identity=str(clinician.id), additional_claims=claims, expires_delta=timedelta(seconds=-1))

    response = client.open(ME if kind == "access" else REFRESH, method="GET" if kind == "access" else "POST",
                           headers=bearer(expired))

    assert "expired" in problem(response, 401)["detail"]
    assert refresh(client, tokens).status_code == 200  # the session itself is still good


def test_a_token_without_a_session_is_refused(client, clinician):
    orphan = create_access_token(identity=str(clinician.id), additional_claims={"role": "clinician"})

    problem(client.get(ME, headers=bearer(orphan)), 401)


def test_a_token_naming_another_users_session_is_refused(client, make, clinician):
    make.tokens(clinician)
    session_id = db.session.scalars(select(AuthSession.id)).one()
    colleague = make.clinician()
    borrowed = create_access_token(identity=str(colleague.id),
                                   additional_claims={"sid": session_id, "role": "clinician"})

    problem(client.get(ME, headers=bearer(borrowed)), 401)


# --- tokens issued before the user's cut-off (tokens_valid_after) ----------

def _change_password(client, make, user):
    response = client.post("/api/v1/me/password", headers=make.headers(user),
                           json={"current_password": PASSWORD, "new_password": "a brand new passphrase"})
    assert response.status_code == 200, response.json


def _logout_everywhere(client, make, user):
    assert client.post("/api/v1/auth/logout-everywhere", headers=make.headers(user)).status_code == 204


def _disable(client, make, user):
    admin = make.admin(user.organization)
    assert client.post(f"/api/v1/users/{user.id}/disable", headers=make.headers(admin)).status_code == 204


def _cut_off_only(client, make, user):
    # The cut-off alone, every session left open: the second lock holds by itself.
    user.tokens_valid_after = make.clock()
    db.session.commit()


@pytest.mark.parametrize("kind", ["access", "refresh"])
@pytest.mark.parametrize("event", [_change_password, _logout_everywhere, _disable, _cut_off_only],
                         ids=["password change", "logout everywhere", "disabled by an admin", "cut-off alone"])
def test_a_token_issued_before_the_cut_off_is_refused(client, clock, make, clinician, kind, event):
    tokens = make.tokens(clinician)
    clock.advance(seconds=1)

    event(client, make, clinician)

    response = me(client, tokens) if kind == "access" else refresh(client, tokens)
    assert "Dr Rivera" not in problem(response, 401).get("detail", "")


def test_a_token_issued_in_the_same_second_before_the_cut_off_is_refused(client, clock, make, clinician):
    tokens = make.tokens(clinician)
    clock.advance(microseconds=1)  # iat cannot tell these apart; the session's start instant can
    clinician.tokens_valid_after = clock()
    db.session.commit()

    problem(me(client, tokens), 401)
    problem(refresh(client, tokens), 401)


def test_tokens_issued_after_the_cut_off_work(client, clock, make, clinician):
    clock.advance(seconds=1)
    clinician.tokens_valid_after = clock()
    db.session.commit()

    tokens = login(client, clinician.email).json

    assert me(client, tokens).status_code == 200
    assert refresh(client, tokens).status_code == 200
