"""Guessing cannot lock the owner out: a device that signed in before passes the address's pause
(OWASP's device cookie), with a failure count of its own; guesses without one stay throttled."""
from datetime import timedelta

import pytest

from models import LoginDevice, db
from tests.factories import PASSWORD, login, problem

LOGIN = "/api/v1/auth/login"
PAUSED = "https://waypoint.example/problems/login-paused"


@pytest.fixture
def phone(client, patient):
    """The device token the patient's own phone kept from an earlier sign-in."""
    response = login(client, patient.email)
    assert response.status_code == 200, response.json
    return response.json["device_token"]


def pause_by_guessing(client, email, token=None):
    for n in range(10):
        assert login(client, email, f"guess number {n}", token, address=f"198.51.100.{n}").status_code == 401


def test_the_owner_signs_in_from_their_phone_while_someone_elses_guesses_pause_the_address(
        client, patient, phone, no_throttle):
    pause_by_guessing(client, patient.email)

    assert login(client, patient.email, device_token=phone).status_code == 200
    # Without the phone's token, the right password waits like any guess.
    assert problem(login(client, patient.email), 429)["type"] == PAUSED


def test_the_guesses_do_not_throttle_the_owners_phone(client, patient, phone):
    """The per-account rate limit (5 a minute) counts a trusted device apart."""
    for n in range(5):
        login(client, patient.email, f"guess number {n}", address=f"198.51.100.{n}")
    problem(login(client, patient.email, address="198.51.100.9"), 429)

    assert login(client, patient.email, device_token=phone, address="192.0.2.7").status_code == 200


def test_wrong_passwords_from_the_phone_pause_only_the_phone(client, clock, patient, phone, no_throttle):
    pause_by_guessing(client, patient.email, phone)

    body = problem(login(client, patient.email, device_token=phone), 429)
    assert body["type"] == PAUSED and "from this device" in body["detail"]
    # The address itself is not paused: the phone's guesses counted against the phone.
    assert login(client, patient.email).status_code == 200
    clock.advance(minutes=15, seconds=1)
    assert login(client, patient.email, device_token=phone).status_code == 200


def test_a_paused_answer_does_not_say_whether_the_password_was_right(client, patient, no_throttle):
    pause_by_guessing(client, patient.email)

    right, wrong = login(client, patient.email), login(client, patient.email, "not the password")

    assert problem(right, 429) == problem(wrong, 429)
    assert "not checked" in problem(right, 429)["detail"]
    assert "access_token" not in right.get_data(as_text=True)


def test_a_phone_trusted_for_one_address_is_not_trusted_for_another(client, make, phone, no_throttle):
    other = make.patient()
    pause_by_guessing(client, other.email)

    problem(login(client, other.email, device_token=phone), 429)


@pytest.mark.parametrize("tamper", [
    lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
    lambda token: "not-a-token",
    lambda token: "",
])
def test_a_forged_device_token_is_not_trusted(client, patient, phone, no_throttle, tamper):
    pause_by_guessing(client, patient.email)

    problem(login(client, patient.email, device_token=tamper(phone)), 429)


def test_a_device_is_trusted_for_180_days_after_its_last_sign_in(client, clock, patient, phone, no_throttle):
    clock.advance(days=179)
    phone = login(client, patient.email, device_token=phone).json["device_token"]  # renewed
    clock.advance(days=179)
    pause_by_guessing(client, patient.email)
    assert login(client, patient.email, device_token=phone).status_code == 200

    clock.advance(days=181)
    pause_by_guessing(client, patient.email)
    problem(login(client, patient.email, device_token=phone), 429)


def test_a_sign_in_from_the_phone_keeps_one_device(client, patient, phone):
    again = login(client, patient.email, device_token=phone)

    assert again.status_code == 200
    assert db.session.query(LoginDevice).count() == 1


def test_registration_trusts_the_device_it_came_from(client, make):
    response = client.post("/api/v1/patients", headers=make.headers(make.clinician()), json={
        "email": "sam@example.org", "display_name": "Sam", "timezone": "UTC", "level_of_care": "iop"})
    registered = client.post("/api/v1/auth/register", json={
        "invite_code": response.json["invite"]["code"], "email": "sam@example.org", "password": PASSWORD})

    assert registered.status_code == 201 and registered.json["device_token"]
    client.application.config.update(LOGIN_LIMITS_PER_ACCOUNT="1000/minute")
    pause_by_guessing(client, "sam@example.org")
    assert login(client, "sam@example.org", device_token=registered.json["device_token"]).status_code == 200


def test_lockout_settings_hold_for_a_device_too(app, client, patient, phone, no_throttle):
    app.config.update(LOGIN_MAX_FAILURES=2, LOGIN_LOCKOUT=timedelta(minutes=1))
    login(client, patient.email, "wrong one", phone)
    login(client, patient.email, "wrong two", phone)

    problem(login(client, patient.email, device_token=phone), 429)


@pytest.mark.parametrize("ending", ["logout-everywhere", "password-change", "disable"])
def test_ending_every_session_also_ends_every_devices_trust(client, make, patient, phone, no_throttle, ending):
    headers = make.headers(patient)
    if ending == "logout-everywhere":
        assert client.post("/api/v1/auth/logout-everywhere", headers=headers).status_code in (200, 204)
    elif ending == "password-change":
        changed = client.post("/api/v1/me/password", headers=headers,
                              json={"current_password": PASSWORD, "new_password": "a brand new passphrase 42"})
        assert changed.status_code in (200, 204), changed.json
    else:
        admin = make.admin(patient.organization)
        assert client.post(f"/api/v1/users/{patient.id}/disable", headers=make.headers(admin)).status_code == 204
        assert client.post(f"/api/v1/users/{patient.id}/enable", headers=make.headers(admin)).status_code in (200, 204)
    password = "a brand new passphrase 42" if ending == "password-change" else PASSWORD
    pause_by_guessing(client, patient.email)

    # Whoever kept that device (a shared or lost phone) now waits out the pause like anyone else.
    assert problem(login(client, patient.email, password, device_token=phone), 429)["type"] == PAUSED
    assert db.session.query(LoginDevice).count() == 0
