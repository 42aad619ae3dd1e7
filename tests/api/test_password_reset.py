"""Self-service password reset: a single-use, 30-minute link by e-mail that ends every session.

Asking never tells whether an account uses the address: the same 202, the
same headers, the same work. The link opens a page the app serves, under a
policy that lets its own script and form work and nothing else.
"""
import re
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from api import create_app
from models import AuditEvent, Delivery, User, db
from services import outbox
from services.delivery import Letter, Skip
from services.ledger import PASSWORD_RESET, WEEKLY_SUMMARY, Claimed
from services.outbox import Sender
from services.password_reset import compose_password_resets, request_password_reset, reset_token
from services.passwords import verify_password
from services.preferences import unsubscribe_token
from tests.factories import PASSWORD, bearer, problem

ASK = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
PAGE = "/api/v1/password-reset"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/me"
NEW_PASSWORD = "lantern orchard pebble 42"
LINK = re.compile(r"(https?://\S+/api/v1/password-reset)#([A-Za-z0-9_.-]+)")


def ask(client, email: str):
    return client.post(ASK, json={"email": email})


def confirm(client, token: str, password: str = NEW_PASSWORD):
    return client.post(CONFIRM, json={"token": token, "new_password": password})


def link_in(message) -> tuple[str, str]:
    """Return the page address and the token of the one reset link a message carries."""
    links = set(LINK.findall(message.text))
    assert len(links) == 1, message.text
    return links.pop()


def token_mailed_to(client, sent_mail, user) -> str:
    assert ask(client, user.email).status_code == 202
    mine = [message for message in sent_mail if message.to == user.email]
    return link_in(mine[-1])[1]


def ledger() -> list[tuple[int, str, str]]:
    return [(row.recipient_id, row.period, row.status) for row in db.session.scalars(
        select(Delivery).where(Delivery.kind == PASSWORD_RESET).order_by(Delivery.id))]


def logs_in(client, email: str, password: str) -> bool:
    return client.post(LOGIN, json={"email": email, "password": password}).status_code == 200


# --- asking for a link ---------------------------------------------------------------------------

def test_asking_mails_the_account_a_link_to_the_apps_page_through_the_ledger(
        client, make, sent_mail, outbox_wakeups):
    patient = make.patient()

    response = ask(client, patient.email.upper())  # addresses are kept lower-case

    assert response.status_code == 202 and response.get_json() == {
        "detail": "If an account uses this address, a link to choose a new password is on its way."}
    assert ledger() == [(patient.id, "R1795453200", "pending")]  # owed in the request's commit
    assert outbox_wakeups == []  # the sender waits until the answer has gone out ...
    response.close()
    assert len(outbox_wakeups) == 1  # ... then wakes
    [message] = list(sent_mail)
    assert message.to == patient.email and message.subject == "Reset your Waypoint password"
    page, token = link_in(message)
    assert page == "http://127.0.0.1:5000/api/v1/password-reset"  # nothing but the token in the link
    assert f'href="{page}#{token}"' in message.html
    assert "30 minutes" in message.text and "signs you out on every device" in message.text
    assert ledger() == [(patient.id, "R1795453200", "sent")]


def test_the_sender_thread_mails_the_link_once_the_answer_is_out(app, client, make, sent_mail):
    patient = make.patient()
    sender = Sender(app)
    previous = outbox.set_waker(lambda _app: sender.wake())
    sender.start()
    try:
        with ask(client, patient.email) as response:
            assert response.status_code == 202
        deadline = time.monotonic() + 30
        while not list(sent_mail.folder.glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        outbox.set_waker(previous)
        sender.stop(timeout=30)

    db.session.rollback()
    assert ledger() == [(patient.id, "R1795453200", "sent")]
    assert [message.to for message in sent_mail] == [patient.email]


def test_the_email_is_neutral_and_the_raw_token_is_kept_nowhere(client, make, sent_mail, caplog):
    patient = make.patient(name="Jordan Example")

    ask(client, patient.email)
    [message] = list(sent_mail)
    _page, token = link_in(message)

    words = (message.subject + message.text + message.html).lower()
    for clinical in ("check-in", "craving", "treatment", "recovery", "alert", "clinic", "patient", "program",
                     patient.organization.name.lower()):
        assert clinical not in words
    assert "List-Unsubscribe" not in message.message  # an account's mail, not a newsletter
    row = db.session.scalars(select(Delivery).where(Delivery.kind == PASSWORD_RESET)).one()
    assert token not in repr({column.name: getattr(row, column.name) for column in Delivery.__table__.c})
    assert token not in caplog.text


def test_an_address_with_accounts_in_two_organizations_gets_one_link_per_account(client, make, sent_mail):
    first = make.patient()
    second = make.clinician(make.organization())
    second.email = first.email
    db.session.commit()

    ask(client, first.email)
    tokens = [link_in(message)[1] for message in sent_mail]

    assert sorted(recipient for recipient, _period, _status in ledger()) == sorted([first.id, second.id])
    assert len(tokens) == 2 and tokens[0] != tokens[1]
    assert confirm(client, tokens[0]).status_code == 204
    # One account has the new password; the other's is untouched, and its own link still works.
    db.session.expire_all()
    assert sorted(verify_password(user.password_hash, NEW_PASSWORD) for user in (first, second)) == [False, True]
    assert confirm(client, tokens[1], "another lantern orchard 7").status_code == 204


@pytest.mark.parametrize("who", ["nobody", "disabled", "not_registered"])
def test_an_address_that_cannot_reset_gets_exactly_the_answer_a_real_account_gets(client, make, who):
    patient = make.patient()
    other = {"nobody": None, "disabled": make.patient(), "not_registered": make.patient(registered=False)}[who]
    if who == "disabled":
        other.is_active = False
        db.session.commit()
    email = other.email if other else "no.such.person@example.org"

    # From two clients, so each answer's per-client count is its first.
    real = client.post(ASK, json={"email": patient.email}, environ_base={"REMOTE_ADDR": "127.0.0.2"})
    unknown = client.post(ASK, json={"email": email}, environ_base={"REMOTE_ADDR": "127.0.0.3"})

    assert unknown.status_code == real.status_code == 202
    assert unknown.get_data() == real.get_data()
    assert _headers(unknown) == _headers(real)
    assert [recipient for recipient, _period, _status in ledger()] == [patient.id]


def _headers(response) -> dict:
    # What differs between any two answers: the request's own id, and the clock.
    return {name: value for name, value in response.headers.items()
            if name not in ("Date", "X-Request-ID", "X-RateLimit-Reset")}


def test_asking_does_the_same_work_whether_or_not_an_account_uses_the_address(app, client, make):
    """One transaction writes, once, either way: a second durable commit would time the answer apart."""
    patient = make.patient()

    known, unknown = _writes_of(client, patient.email), _writes_of(client, "nobody.here@example.org")

    assert len(known) == len(unknown) == 1  # the audit event commits with the ledger rows, not after them
    assert [_without_ledger(statements) for statements in known] == [
        _without_ledger(statements) for statements in unknown]


def _writes_of(client, email: str) -> list[list[str]]:
    """Return, per transaction that wrote, the statements an asking request ran."""
    transactions, current = [], []

    def before(conn, cursor, statement, parameters, context, executemany):
        current.append(statement.split()[0].upper() + " " + _table(statement))

    def committed(conn):
        if any(s.split()[0] in ("INSERT", "UPDATE", "DELETE") for s in current):
            transactions.append(list(current))
        current.clear()

    def rolled_back(conn):
        current.clear()

    listeners = (("before_cursor_execute", before), ("commit", committed), ("rollback", rolled_back))
    # The test client's requests share the test's app context and session: end the transaction the
    # test's own reads opened, so the request begins its own as in production (BEGIN IMMEDIATE on SQLite).
    db.session.commit()
    for name, listener in listeners:
        event.listen(db.engine, name, listener)
    try:
        assert ask(client, email).status_code == 202
    finally:
        for name, listener in listeners:
            event.remove(db.engine, name, listener)
    return transactions


def _table(statement: str) -> str:
    found = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", statement, re.IGNORECASE)
    return found.group(1) if found else ""


def _without_ledger(statements: list[str]) -> list[str]:
    return [s for s in statements if s != "INSERT deliveries"]


def test_asking_is_throttled_per_address_whether_or_not_an_account_uses_it(app, client, make, sent_mail):
    app.config.update(PASSWORD_RESET_LIMITS_PER_ACCOUNT="2/hour")
    patient = make.patient()

    for email in (patient.email, "nobody.here@example.org"):
        assert [ask(client, email).status_code for _ in range(2)] == [202, 202]
        refused = problem(ask(client, email), 429)
        assert "Too many attempts" in refused["detail"] and "Retry-After" in ask(client, email).headers

    assert ask(client, make.patient().email).status_code == 202  # another address is not held up
    assert len([m for m in sent_mail if m.to == patient.email]) == 1  # two asks in one second: one mail


def test_asking_is_throttled_per_client_across_addresses(app, client):
    app.config.update(PASSWORD_RESET_LIMITS_PER_ADDRESS="3/hour")

    statuses = [ask(client, f"person{n}@example.org").status_code for n in range(4)]

    assert statuses == [202, 202, 202, 429]
    assert ask(client, "person9@example.org").status_code == 429
    other_client = client.post(ASK, json={"email": "person9@example.org"},
                               environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert other_client.status_code == 202


@pytest.mark.parametrize("body", [{}, {"email": "not an address"}, {"email": "a@example.org", "extra": 1},
                                  {"email": "x" * 250 + "@example.org"}])
def test_a_malformed_ask_is_a_problem_not_a_guess(client, body):
    problem(client.post(ASK, json=body), 422)


# --- using the link ------------------------------------------------------------------------------

def test_the_link_sets_the_new_password_and_ends_every_session(client, make, sent_mail):
    patient = make.patient()
    phone, laptop = make.tokens(patient), make.tokens(patient)
    token = token_mailed_to(client, sent_mail, patient)

    assert confirm(client, token).status_code == 204

    for device in (phone, laptop):
        problem(client.get(ME, headers=bearer(device["access_token"])), 401)
        problem(client.post("/api/v1/auth/refresh", headers=bearer(device["refresh_token"])), 401)
    assert not logs_in(client, patient.email, PASSWORD)
    assert logs_in(client, patient.email, NEW_PASSWORD)


def test_the_link_works_once(client, make, sent_mail):
    patient = make.patient()
    token = token_mailed_to(client, sent_mail, patient)
    assert confirm(client, token).status_code == 204

    again = problem(confirm(client, token, "a different passphrase 99"), 422)

    assert set(again["errors"]) == {"token"}
    assert logs_in(client, patient.email, NEW_PASSWORD)


def test_the_link_lasts_thirty_minutes_from_the_mail(client, make, clock, sent_mail):
    patient = make.patient()
    token = token_mailed_to(client, sent_mail, patient)

    clock.advance(minutes=30, seconds=1)
    assert set(problem(confirm(client, token), 422)["errors"]) == {"token"}
    clock.advance(minutes=-1)
    assert confirm(client, token).status_code == 204


def test_each_link_of_an_account_dies_with_the_first_one_used(client, make, clock, sent_mail):
    patient = make.patient()
    first = token_mailed_to(client, sent_mail, patient)
    clock.advance(seconds=5)
    second = token_mailed_to(client, sent_mail, patient)

    assert confirm(client, second).status_code == 204
    assert set(problem(confirm(client, first), 422)["errors"]) == {"token"}


@pytest.mark.parametrize("password, says", [
    ("short pass", "at least 12 characters"),
    ("password1234", ""),
    ("{email}", "e-mail address"),
])
def test_a_refused_password_says_why_and_leaves_the_link_usable(client, make, sent_mail, password, says):
    patient = make.patient()
    token = token_mailed_to(client, sent_mail, patient)

    refused = problem(confirm(client, token, password.format(email=patient.email)), 422)

    assert set(refused["errors"]) == {"new_password"} and says in " ".join(refused["errors"]["new_password"])
    assert logs_in(client, patient.email, PASSWORD)
    assert confirm(client, token).status_code == 204


def test_a_password_change_or_logging_out_everywhere_kills_a_link_already_mailed(client, make, clock, sent_mail):
    patient = make.patient()
    token = token_mailed_to(client, sent_mail, patient)
    clock.advance(seconds=1)
    client.post("/api/v1/auth/logout-everywhere", headers=make.headers(patient))
    assert set(problem(confirm(client, token), 422)["errors"]) == {"token"}

    clock.advance(seconds=1)
    token = token_mailed_to(client, sent_mail, patient)
    changed = client.post("/api/v1/me/password", headers=make.headers(patient),
                          json={"current_password": PASSWORD, "new_password": "kettle harbour violet 8"})
    assert changed.status_code == 200
    assert set(problem(confirm(client, token), 422)["errors"]) == {"token"}


def test_a_disabled_account_cannot_use_a_link_mailed_before(client, make, sent_mail):
    patient = make.patient()
    token = token_mailed_to(client, sent_mail, patient)
    admin = make.admin(patient.organization)
    assert client.post(f"/api/v1/users/{patient.id}/disable", headers=make.headers(admin)).status_code == 204

    assert set(problem(confirm(client, token), 422)["errors"]) == {"token"}


@pytest.mark.parametrize("token", ["", "not-a-token", "e30.aGVsbG8.c2ln", "unsubscribe"])
def test_a_forged_damaged_or_foreign_token_is_refused(client, make, token):
    patient = make.patient()
    if token == "unsubscribe":
        token = unsubscribe_token(patient.id, WEEKLY_SUMMARY)

    refused = problem(confirm(client, token), 422)

    assert set(refused["errors"]) == {"token"}
    assert logs_in(client, patient.email, PASSWORD)


def test_a_reset_lifts_the_pause_guesses_put_on_the_address(app, client, make, sent_mail):
    app.config.update(LOGIN_LIMITS_PER_ACCOUNT="1000/minute")  # the pause, not the throttle
    patient = make.patient()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        client.post(LOGIN, json={"email": patient.email, "password": "someone guessing"})
    paused = problem(client.post(LOGIN, json={"email": patient.email, "password": PASSWORD}), 429)
    assert paused["type"].endswith("/login-paused")

    token = token_mailed_to(client, sent_mail, patient)
    assert confirm(client, token).status_code == 204

    assert logs_in(client, patient.email, NEW_PASSWORD)


def test_using_a_link_is_throttled_per_client(app, client):
    app.config.update(PASSWORD_RESET_CONFIRM_LIMITS="3/minute")

    statuses = [confirm(client, f"guess-{n}").status_code for n in range(4)]

    assert statuses == [422, 422, 422, 429]


def test_two_uses_of_one_link_at_once_set_one_password(app, make, clock, sent_mail):
    """The change is a compare-and-set on the old hash: the slower use finds it changed."""
    patient = make.patient()
    token = reset_token(patient, clock.now)
    server = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "TESTING": True,
                         "RATELIMIT_STORAGE_URI": "memory://"})
    passwords = ["first lantern orchard 1", "second lantern orchard 2"]
    barrier, statuses = threading.Barrier(2), {}

    def use(password):
        with server.app_context():
            client = server.test_client()
            barrier.wait(timeout=30)
            statuses[password] = confirm(client, token, password).status_code
            db.session.remove()

    threads = [threading.Thread(target=use, args=(password,)) for password in passwords]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with server.app_context():
        db.engine.dispose()

    assert sorted(statuses.values()) == [204, 422]
    [winner] = [password for password, status in statuses.items() if status == 204]
    db.session.expire_all()
    assert [verify_password(patient.password_hash, p) for p in passwords] == [p == winner for p in passwords]


def test_a_stale_hash_between_check_and_change_refuses_the_link(client, make, clock, monkeypatch):
    """What the race above needs, made certain: the hash changes after the token was checked."""
    from services import password_reset

    patient = make.patient()
    token = reset_token(patient, clock.now)
    real_hash = password_reset.hash_password

    def changed_meanwhile(password):
        with db.engine.begin() as other:
            other.execute(User.__table__.update().where(User.id == patient.id).values(password_hash="elsewhere"))
        return real_hash(password)

    monkeypatch.setattr(password_reset, "hash_password", changed_meanwhile)

    assert set(problem(confirm(client, token), 422)["errors"]) == {"token"}


# --- the composer ---------------------------------------------------------------------------------

def test_the_composer_skips_an_account_that_can_no_longer_reset_and_a_request_gone_stale(make, clock):
    patient, disabled = make.patient(), make.patient()
    disabled.is_active = False
    db.session.commit()

    def claimed(n, user_id, asked_at):
        return Claimed(n, user_id, PASSWORD_RESET, f"R{int(asked_at.timestamp())}", f"<m{n}>", 1, asked_at)

    letters = compose_password_resets([
        claimed(1, patient.id, clock.now), claimed(2, disabled.id, clock.now), claimed(3, 999_999, clock.now),
        claimed(4, patient.id, clock.now - timedelta(minutes=31)),
    ], clock.now)

    assert isinstance(letters[1], Letter) and letters[1].to == patient.email
    assert [type(letters[n]) for n in (2, 3, 4)] == [Skip, Skip, Skip]


def test_asking_without_a_request_owes_nothing_until_commit(make, clock, outbox_wakeups):
    patient = make.patient()

    request_password_reset(patient.email, clock.now)
    db.session.rollback()

    assert ledger() == [] and outbox_wakeups == []


# --- the page the link opens ----------------------------------------------------------------------

def test_the_page_is_served_under_a_policy_that_lets_its_own_script_and_form_work(client):
    response = client.get(PAGE)

    assert response.status_code == 200 and response.mimetype == "text/html"
    csp = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["form-action"] == "'self'"
    assert csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'none'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Referrer-Policy"] == "no-referrer"
    page = response.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", page) and "<style" not in page and " style=" not in page
    assert not re.search(r"\son\w+=", page)  # no inline event handlers either
    assets = re.findall(r'(?:src|href)="(/static/[^"]+\.(js|css))"', page)
    assert sorted(kind for _asset, kind in assets) == ["css", "js"]
    for asset, kind in assets:
        with client.get(asset) as served:
            assert served.status_code == 200
            assert served.mimetype == {"js": "text/javascript", "css": "text/css"}[kind]


def test_the_pages_script_posts_to_the_confirm_route_relative_to_the_page(client):
    with client.get("/static/password-reset.js") as served:
        script = served.get_data(as_text=True)

    # Relative to the page (/api/v1/password-reset): /api/v1/auth/password-reset/confirm.
    assert '"auth/password-reset/confirm"' in script and "location.hash" in script and "replaceState" in script
    assert '"hashchange"' in script  # a link opened in a tab already on the page does not reload it


# --- the audit trail ------------------------------------------------------------------------------

def test_the_trail_records_an_ask_without_the_address_and_a_reset_with_its_account(client, make, sent_mail):
    patient = make.patient()
    token = token_mailed_to(client, sent_mail, patient)
    confirm(client, token)

    asked, reset = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()[-2:]
    assert (asked.resource, asked.actor_id, asked.outcome) == ("password_reset.PasswordResetRequest", None, "allowed")
    assert patient.email not in repr(asked.detail)
    assert (reset.action, reset.actor_id, reset.patient_id, reset.outcome) == (
        "password_reset", patient.id, patient.id, "allowed")
