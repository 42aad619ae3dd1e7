"""Hardened accounts: login throttling, lockout, password change, logout everywhere,
disabling an account, and the security headers on every response."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from api.config import MAX_ACCESS_TOKEN_MINUTES, Config, check_production_settings
from models import AuthSession, LoginLockout, User, db
from services import sessions
from services.lockout import address_digest, address_lockout
from services.passwords import verify_password
from services.sessions import issued_before_cutoff
from tests.factories import PASSWORD, bearer, login, problem

LOGIN, REFRESH, ME = "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/me"
PASSWORD_CHANGE, EVERYWHERE = "/api/v1/me/password", "/api/v1/auth/logout-everywhere"
NEW_PASSWORD = "a much better passphrase"
WRONG = {"type": "https://waypoint.example/problems/unauthorized", "title": "Unauthorized",
         "status": 401, "detail": "Wrong e-mail or password."}
PAUSED = "https://waypoint.example/problems/login-paused"


def fresh(user: User) -> User:
    return db.session.scalars(select(User).where(User.id == user.id)
                              .execution_options(populate_existing=True)).one()


# --- throttling ------------------------------------------------------------

def test_the_default_limits_are_per_account_and_per_address():
    assert Config.LOGIN_LIMITS_PER_ACCOUNT == "5/minute;20/hour"
    assert Config.LOGIN_LIMITS_PER_ADDRESS == "30/minute"
    assert Config.RATELIMIT_STORAGE_URI in ("memory://",) or Config.RATELIMIT_STORAGE_URI.startswith("redis")


def test_too_many_logins_for_one_account_get_429_with_retry_after(app, client, clinician):
    app.config["LOGIN_LIMITS_PER_ACCOUNT"] = "3/minute"
    for n in range(3):
        # From three addresses: the account's own limit is what bites.
        assert login(client, clinician.email, "wrong password", address=f"198.51.100.{n}").status_code == 401

    response = login(client, clinician.email, address="198.51.100.9")

    body = problem(response, 429)
    assert body["detail"] == "Too many attempts; wait a while before trying again."
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert "access_token" not in response.get_data(as_text=True)


def test_the_account_limit_counts_the_email_whatever_its_case(app, client, clinician):
    app.config["LOGIN_LIMITS_PER_ACCOUNT"] = "2/minute"
    login(client, clinician.email.upper(), "wrong password")
    login(client, f"  {clinician.email} ", "wrong password")

    problem(login(client, clinician.email), 429)


def test_the_account_limit_leaves_other_accounts_alone(app, client, make, clinician):
    app.config["LOGIN_LIMITS_PER_ACCOUNT"] = "2/minute"
    colleague = make.clinician()
    for _ in range(3):
        login(client, clinician.email, "wrong password")

    assert login(client, colleague.email).status_code == 200


def test_too_many_logins_from_one_address_get_429(app, client, make):
    app.config["LOGIN_LIMITS_PER_ADDRESS"] = "3/minute"
    for n in range(3):
        assert login(client, f"nobody{n}@example.org", address="203.0.113.5").status_code == 401

    response = login(client, make.clinician().email, address="203.0.113.5")

    problem(response, 429)
    assert int(response.headers["Retry-After"]) > 0
    assert login(client, "nobody@example.org", address="203.0.113.6").status_code == 401


def test_the_throttle_counts_the_address_a_trusted_proxy_saw(app, client, make):
    app.config.update(LOGIN_LIMITS_PER_ADDRESS="2/minute", TRUSTED_PROXY_HOPS=1)
    behind_proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for client_address in ["203.0.113.1", "203.0.113.1"]:
        client.post(LOGIN, json={"email": "nobody@example.org", "password": "x"},
                    headers={"X-Forwarded-For": client_address}, environ_base=behind_proxy)

    other_client = client.post(LOGIN, json={"email": "nobody@example.org", "password": "x"},
                               headers={"X-Forwarded-For": "203.0.113.2"}, environ_base=behind_proxy)

    assert other_client.status_code == 401  # not everyone behind the proxy


def test_a_successful_login_answers_no_retry_after(client, clinician):
    response = login(client, clinician.email)

    assert response.status_code == 200 and "Retry-After" not in response.headers


def test_rate_limits_can_be_kept_in_redis(make):
    """REDIS_URL's storage: two apps (two workers) share one count."""
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    from api import create_app

    settings = {"SQLALCHEMY_DATABASE_URI": db.engine.url.render_as_string(hide_password=False),
                "TESTING": True, "RATELIMIT_STORAGE_URI": url, "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": False,
                "RATELIMIT_KEY_PREFIX": f"waypoint-test-{uuid.uuid4()}", "LOGIN_LIMITS_PER_ACCOUNT": "2/minute"}
    email = make.clinician().email
    first, second = create_app(settings), create_app(settings)
    try:
        with first.app_context():
            assert login(first.test_client(), email, "wrong password").status_code == 401
            assert login(first.test_client(), email, "wrong password").status_code == 401
        with second.app_context():
            problem(login(second.test_client(), email), 429)
    finally:
        for extra in (first, second):
            with extra.app_context():
                db.session.remove()
                db.engine.dispose()


# --- lockout ---------------------------------------------------------------

def test_ten_wrong_passwords_in_a_row_pause_the_address_for_15_minutes(client, clock, clinician, no_throttle):
    for _ in range(10):
        assert login(client, clinician.email, "wrong password").status_code == 401
    assert address_lockout(clinician.email).locked_until == clock() + timedelta(minutes=15)

    # The right password and a wrong one, during the pause: the same plain answer.
    right, wrong = login(client, clinician.email), login(client, clinician.email, "wrong password")
    assert problem(right, 429) == problem(wrong, 429)
    assert problem(right, 429)["type"] == PAUSED and "not checked" in problem(right, 429)["detail"]
    assert right.headers["Retry-After"] == str(15 * 60)

    clock.advance(minutes=15, seconds=1)
    assert login(client, clinician.email).status_code == 200
    assert address_lockout(clinician.email) is None


def test_a_success_resets_the_count_of_failures(client, clinician, no_throttle):
    for _ in range(9):
        login(client, clinician.email, "wrong password")
    assert login(client, clinician.email).status_code == 200
    for _ in range(9):
        login(client, clinician.email, "wrong password")

    assert address_lockout(clinician.email).locked_until is None
    assert login(client, clinician.email).status_code == 200


def test_the_lockout_follows_the_configuration(app, client, clock, clinician, no_throttle):
    app.config.update(LOGIN_MAX_FAILURES=2, LOGIN_LOCKOUT=timedelta(minutes=1))
    login(client, clinician.email, "wrong password")
    login(client, clinician.email, "wrong password")

    problem(login(client, clinician.email), 429)
    clock.advance(minutes=1, seconds=1)
    assert login(client, clinician.email).status_code == 200


@pytest.mark.parametrize("case", ["unknown", "paused", "paused unknown", "disabled", "wrong password"])
def test_every_refusal_verifies_as_many_password_hashes_as_a_login(client, clock, verified_hashes, clinician,
                                                                  case):
    """The unknown-e-mail (and paused, and disabled) path costs what a wrong password costs."""
    email = clinician.email
    if "unknown" in case:
        email = "nobody@example.org"
    if "paused" in case:
        db.session.add(LoginLockout(address_digest=address_digest(email), failed_logins=0,
                                    last_failed_at=clock(), locked_until=clock() + timedelta(minutes=5)))
    elif case == "disabled":
        clinician.is_active = False
    db.session.commit()

    response = login(client, email, PASSWORD if case != "wrong password" else "wrong password")

    if "paused" in case:
        assert problem(response, 429)["type"] == PAUSED
    else:
        assert problem(response, 401) == WRONG
    assert len(verified_hashes) == sessions.LOGIN_VERIFICATIONS
    assert (verified_hashes[0] is None) == ("unknown" in case)


def test_a_paused_address_answers_alike_whether_or_not_it_has_an_account(client, clinician, no_throttle):
    """Pausing an unknown address too: the pause must not tell who is enrolled (42 CFR Part 2)."""
    for _ in range(10):
        login(client, clinician.email, "wrong password")
        login(client, "nobody@example.org", "wrong password")

    known, unknown = login(client, clinician.email), login(client, "nobody@example.org")

    assert problem(known, 429) == problem(unknown, 429)
    assert known.headers["Retry-After"] == unknown.headers["Retry-After"]


# --- password change -------------------------------------------------------

def change(client, tokens, current=PASSWORD, new=NEW_PASSWORD):
    return client.post(PASSWORD_CHANGE, headers=bearer(tokens["access_token"]),
                       json={"current_password": current, "new_password": new})


def test_a_password_change_kills_every_token_and_returns_a_fresh_pair(client, clock, make, clinician):
    phone, laptop = make.tokens(clinician), make.tokens(clinician)
    clock.advance(seconds=1)

    response = change(client, phone)

    assert response.status_code == 200, response.json
    new_pair = response.json
    for old in (phone, laptop):
        problem(client.get(ME, headers=bearer(old["access_token"])), 401)
        problem(client.post(REFRESH, headers=bearer(old["refresh_token"])), 401)
    assert client.get(ME, headers=bearer(new_pair["access_token"])).status_code == 200
    assert client.post(REFRESH, headers=bearer(new_pair["refresh_token"])).status_code == 200
    user = fresh(clinician)
    assert user.tokens_valid_after == clock()
    assert verify_password(user.password_hash, NEW_PASSWORD)
    assert login(client, clinician.email).status_code == 401
    assert login(client, clinician.email, NEW_PASSWORD).status_code == 200


def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failure(client, make, clinician):
    tokens = make.tokens(clinician)

    body = problem(change(client, tokens, current="not my password"), 422)

    assert body["errors"] == {"current_password": ["Does not match your password."]}
    assert address_lockout(clinician.email).failed_logins == 1
    assert client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200
    assert login(client, clinician.email).status_code == 200


@pytest.mark.parametrize("new, field", [("short", "new_password"), (PASSWORD, "new_password")])
def test_a_weak_or_unchanged_new_password_is_refused(client, make, clinician, new, field):
    tokens = make.tokens(clinician)

    assert field in problem(change(client, tokens, new=new), 422)["errors"]
    assert client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200


def test_password_changes_are_throttled_per_user(app, client, make, clinician):
    app.config["PASSWORD_CHANGE_LIMITS"] = "2/minute"
    tokens = make.tokens(clinician)
    change(client, tokens, current="guess one")
    change(client, tokens, current="guess two")

    response = change(client, tokens)

    problem(response, 429)
    assert int(response.headers["Retry-After"]) > 0


# --- logout everywhere -----------------------------------------------------

def test_logout_everywhere_kills_every_session(client, clock, make, clinician):
    phone, laptop = make.tokens(clinician), make.tokens(clinician)
    clock.advance(seconds=1)

    response = client.post(EVERYWHERE, headers=bearer(phone["access_token"]))

    assert response.status_code == 204
    for old in (phone, laptop):
        problem(client.get(ME, headers=bearer(old["access_token"])), 401)
        problem(client.post(REFRESH, headers=bearer(old["refresh_token"])), 401)
    reasons = db.session.scalars(select(AuthSession.revoked_reason)
                                 .execution_options(populate_existing=True)).all()
    assert reasons == ["logout_everywhere", "logout_everywhere"]
    assert login(client, clinician.email).status_code == 200


# --- tokens valid after: the second lock -----------------------------------

CUTOFF = datetime(2026, 11, 23, 17, 0, 0, 400_000, tzinfo=timezone.utc)
SECOND = int(CUTOFF.replace(microsecond=0).timestamp())


@pytest.mark.parametrize("issued_at, session_started, dead", [
    (SECOND - 1, CUTOFF - timedelta(seconds=1), True),        # an earlier second
    (SECOND, CUTOFF - timedelta(microseconds=1), True),       # the same second, just before
    (SECOND, CUTOFF, False),                                  # the fresh pair of the change itself
    (SECOND, CUTOFF + timedelta(milliseconds=300), False),    # the same second, just after
    (SECOND + 1, CUTOFF - timedelta(hours=1), True),          # refreshed later in an old session
    (SECOND + 1, CUTOFF + timedelta(seconds=1), False),
])
def test_the_cutoff_is_exact_within_its_second(issued_at, session_started, dead):
    assert issued_before_cutoff(issued_at, session_started, CUTOFF) is dead


def test_without_a_cutoff_nothing_is_dead():
    assert issued_before_cutoff(0, CUTOFF, None) is False


# --- disabling an account --------------------------------------------------

@pytest.fixture
def clinic(make):
    organization = make.organization()
    return {"organization": organization, "admin": make.admin(organization),
            "clinician": make.clinician(organization), "elsewhere": make.admin(make.organization())}


def test_an_admin_disables_an_account_and_its_tokens_die_at_once(client, make, clinic):
    clinician = clinic["clinician"]
    tokens = make.tokens(clinician)

    response = client.post(f"/api/v1/users/{clinician.id}/disable", headers=make.headers(clinic["admin"]))

    assert response.status_code == 204
    problem(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    problem(client.post(REFRESH, headers=bearer(tokens["refresh_token"])), 401)
    assert problem(login(client, clinician.email), 401) == WRONG
    assert fresh(clinician).is_active is False


def test_an_admin_re_enables_an_account_and_lifts_its_lockout(client, clock, make, clinic):
    clinician = clinic["clinician"]
    clinician.is_active = False
    db.session.add(LoginLockout(address_digest=address_digest(clinician.email), failed_logins=3,
                                last_failed_at=clock(), locked_until=clock() + timedelta(hours=1)))
    db.session.commit()

    response = client.post(f"/api/v1/users/{clinician.id}/enable", headers=make.headers(clinic["admin"]))

    assert response.status_code == 204
    assert login(client, clinician.email).status_code == 200


def test_another_organizations_admin_cannot_reach_the_account(client, make, clinic):
    clinician = clinic["clinician"]
    tokens = make.tokens(clinician)

    body = problem(client.post(f"/api/v1/users/{clinician.id}/disable",
                               headers=make.headers(clinic["elsewhere"])), 404)

    assert body == problem(client.post("/api/v1/users/99999/disable",
                                       headers=make.headers(clinic["elsewhere"])), 404)
    assert client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200


def test_only_an_admin_disables_accounts(client, make, clinic):
    colleague = make.clinician(clinic["organization"])

    problem(client.post(f"/api/v1/users/{colleague.id}/disable", headers=make.headers(clinic["clinician"])), 403)
    assert fresh(colleague).is_active is True


def test_an_admin_cannot_disable_themself(client, make, clinic):
    admin = clinic["admin"]

    problem(client.post(f"/api/v1/users/{admin.id}/disable", headers=make.headers(admin)), 409)
    assert fresh(admin).is_active is True


# --- access tokens stay short ----------------------------------------------

def test_access_tokens_live_at_most_15_minutes():
    assert Config.JWT_ACCESS_TOKEN_EXPIRES <= timedelta(minutes=MAX_ACCESS_TOKEN_MINUTES) == timedelta(minutes=15)


def test_production_refuses_longer_lived_access_tokens():
    settings = {"ENV_NAME": "production", "JWT_SECRET_KEY": "x" * 40, "SQLALCHEMY_DATABASE_URI": "postgresql://db/w",
                "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=16)}
    with pytest.raises(RuntimeError, match="at most 15 minutes"):
        check_production_settings(settings)
    check_production_settings({**settings, "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=15)})


def test_production_without_redis_warns_that_each_process_counts_alone(caplog):
    settings = {"ENV_NAME": "production", "JWT_SECRET_KEY": "x" * 40, "SQLALCHEMY_DATABASE_URI": "postgresql://db/w",
                "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=15)}

    check_production_settings({**settings, "RATELIMIT_STORAGE_URI": "redis://cache:6379/0"})
    assert "REDIS_URL" not in caplog.text
    check_production_settings({**settings, "RATELIMIT_STORAGE_URI": "memory://"})
    assert "REDIS_URL is not set" in caplog.text


# --- security headers --------------------------------------------------------

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/healthz", 200), ("GET", ME, 401), ("GET", "/api/v1/no-such-thing", 404),
    ("DELETE", "/healthz", 405), ("POST", LOGIN, 422), ("GET", "/api/docs/openapi.json", 200),
])
def test_every_response_carries_the_security_headers(client, method, path, status):
    response = client.open(path, method=method, json={} if method == "POST" else None)

    assert response.status_code == status
    assert {name: response.headers.get(name) for name in COMMON_HEADERS} == COMMON_HEADERS
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP in development
    assert "Server" not in response.headers


def test_a_signed_in_answer_is_not_cached(client, make):
    response = client.get(ME, headers=make.headers(make.patient()))

    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"


def test_the_docs_page_may_load_its_script_from_this_server_only(app, client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    csp = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert csp["script-src"] == "'self'"  # the vendored ReDoc (api/static/redoc)
    assert csp["default-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    assert csp["connect-src"] == "'self'"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_https_requests_get_strict_transport_security(client):
    response = client.get("/healthz", base_url="https://localhost")

    assert response.headers["Strict-Transport-Security"].startswith("max-age=63072000")


def test_production_always_sends_strict_transport_security(app, client):
    app.config["ENV_NAME"] = "production"

    assert "max-age=" in client.get("/healthz").headers["Strict-Transport-Security"]
