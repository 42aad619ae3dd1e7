"""Whose patients a clinician's caseload lists, whichever way the statement finds them.

The clinician's caseload starts from their care teams and checks the
organization, the program and the account on each patient found: these
tests hold every one of those checks, filtered or not.
"""
import pytest

from models import LevelOfCare
from tests.factories import create_program, place_in_program


def caseload_names(client, headers, **query) -> list[str]:
    response = client.get("/api/v1/caseload", headers=headers, query_string={"sort": "name", **query})
    assert response.status_code == 200, response.get_json()
    assert response.json["total"] == len(response.json["items"])
    return [row["patient"]["display_name"] for row in response.json["items"]]


@pytest.fixture
def clinic(make):
    """Two clinicians of one clinic sharing a program, and a patient of another clinic."""
    organization = make.organization("Harbor Recovery")
    first, second = make.clinician(organization), make.clinician(organization)
    program = create_program(organization, "Evening IOP")
    ann = make.patient(first, name="Ann", level_of_care=LevelOfCare.php)
    ben = make.patient(first, name="Ben")
    cal = make.patient(second, name="Cal")
    for patient in (ann, cal):
        place_in_program(patient, program)
    elsewhere = make.patient(name="Dee")  # enrolled at a new clinic
    return {"first": first, "second": second, "program": program, "ben": ben, "elsewhere": elsewhere}


def test_a_patient_of_another_organization_stays_out_even_on_the_care_team(client, make, clinic):
    # A care team (or a program) that crosses organizations is a fault in the data: the
    # caseload still shows only the clinician's own organization.
    make.add_to_care_team(clinic["elsewhere"], clinic["first"])
    place_in_program(clinic["elsewhere"], clinic["program"])

    assert caseload_names(client, make.headers(clinic["first"])) == ["Ann", "Ben"]
    assert caseload_names(client, make.headers(clinic["first"]), program_id=clinic["program"].id) == ["Ann"]


def test_a_program_filter_keeps_to_the_clinicians_care_teams(client, make, clinic):
    program = clinic["program"].id

    assert caseload_names(client, make.headers(clinic["first"]), program_id=program) == ["Ann"]
    assert caseload_names(client, make.headers(clinic["second"]), program_id=program) == ["Cal"]
    assert caseload_names(client, make.headers(clinic["first"]), program_id=program, level_of_care="iop") == []


def test_a_patient_on_two_of_the_clinicians_care_teams_is_listed_once(client, make, clinic):
    make.add_to_care_team(clinic["ben"], clinic["second"])

    assert caseload_names(client, make.headers(clinic["second"])) == ["Ben", "Cal"]
    assert caseload_names(client, make.headers(clinic["first"])) == ["Ann", "Ben"]


def test_a_deactivated_patient_leaves_a_filtered_caseload_too(client, make, clinic):
    clinic["ben"].is_active = False
    make.add_to_care_team(clinic["ben"], clinic["second"])  # commits the deactivation

    assert caseload_names(client, make.headers(clinic["first"]), level_of_care="iop") == []
    assert caseload_names(client, make.headers(clinic["second"])) == ["Cal"]
