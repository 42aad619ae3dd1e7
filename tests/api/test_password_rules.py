"""Every new password (registration, change, staff accounts, the demo) meets one set of rules:
12 characters or more, not common, breached or guessable, not the e-mail."""
import pytest

from models import Invite, Role
from services.accounts import create_staff_user
from services.demo import ADMIN_EMAIL, DEMO_PASSWORD
from services.errors import InvalidInput
from services.passwords import check_new_password
from tests.factories import PASSWORD, bearer, problem

EMAIL = "sam.rivera@example.org"
GOOD = "lantern orchard whistle"

REFUSED = {
    "eleven characters": "tidal-moss7",
    "a breached password": "password1234",
    "a breached password with a capital and a symbol": "Password123!",
    "a keyboard walk": "qwertyuiop12",
    "one repeated character": "aaaaaaaaaaaa",
    "the e-mail itself": EMAIL,
    "the e-mail in capitals": EMAIL.upper(),
    "the e-mail's name part": "sam.rivera-2024!",
    "the product's name": "waypoint1234",
}


@pytest.mark.parametrize("password", REFUSED.values(), ids=REFUSED.keys())
def test_a_weak_password_is_refused_with_the_reason(password):
    problems = check_new_password(password, EMAIL)

    assert problems and all(isinstance(problem, str) and problem for problem in problems)


@pytest.mark.parametrize("password", [GOOD, PASSWORD, "Recovery-Path-2024", "  twelve chars", "Ünïcödé wörds hère"])
def test_a_long_unguessable_password_is_accepted(password):
    assert check_new_password(password, EMAIL) == []


def test_every_problem_is_told_at_once():
    problems = check_new_password("sam.rivera", EMAIL)

    assert problems[:2] == ["Use at least 12 characters.",
                            "Must not contain the part of your e-mail address before the @."]


def test_a_very_long_password_is_judged_quickly_on_its_start():
    # zxcvbn alone takes most of a second on 256 repeated characters.
    assert check_new_password("x" * 256, EMAIL)
    assert check_new_password(GOOD + "x" * 230, EMAIL) == []


# --- everywhere a password is set ----------------------------------------------

@pytest.fixture
def invite_code(client, make):
    response = client.post("/api/v1/patients", headers=make.headers(make.clinician()), json={
        "email": EMAIL, "display_name": "Sam", "timezone": "America/New_York", "level_of_care": "iop"})
    return response.json["invite"]["code"]


@pytest.mark.parametrize("password", REFUSED.values(), ids=REFUSED.keys())
def test_registration_refuses_a_weak_password_and_keeps_the_invite(client, count, invite_code, password):
    response = client.post("/api/v1/auth/register",
                           json={"invite_code": invite_code, "email": EMAIL, "password": password})

    assert problem(response, 422)["errors"]["password"]
    assert count(Invite, Invite.used_at.is_not(None)) == 0


def test_registration_accepts_a_good_password(client, invite_code):
    response = client.post("/api/v1/auth/register", json={"invite_code": invite_code, "email": EMAIL, "password": GOOD})

    assert response.status_code == 201, response.json


@pytest.mark.parametrize("password", ["password1234", "qwertyuiop12", "aaaaaaaaaaaa", "waypoint1234"])
def test_a_password_change_refuses_a_weak_password(client, make, password):
    clinician = make.clinician()
    tokens = make.tokens(clinician)

    response = client.post("/api/v1/me/password", headers=bearer(tokens["access_token"]),
                           json={"current_password": PASSWORD, "new_password": password})

    assert problem(response, 422)["errors"]["new_password"]


def test_a_password_change_refuses_the_callers_own_email(client, make):
    clinician = make.clinician()

    response = client.post("/api/v1/me/password", headers=make.headers(clinician),
                           json={"current_password": PASSWORD, "new_password": clinician.email.upper()})

    assert "Must not be your e-mail address." in problem(response, 422)["errors"]["new_password"]


def test_a_staff_account_is_created_only_with_a_good_password(app, make):
    organization = make.organization()
    with pytest.raises(InvalidInput) as refused:
        create_staff_user(organization, Role.clinician, "dr.lee@example.org", "password1234", "Dr Lee")
    assert refused.value.errors["password"]

    assert create_staff_user(organization, Role.clinician, "dr.lee@example.org", GOOD, "Dr Lee").id


def test_the_demo_password_meets_the_rules():
    assert check_new_password(DEMO_PASSWORD, ADMIN_EMAIL) == []
