"""A page of check-ins, byte for byte: how the page is read and dumped may change, what the phone gets may not.

The bodies below are what the page answered when it was read as Checkin
objects and dumped by marshmallow's own field loop: a day with every field
set, a day with only what is required, and an edited day, for the patient
and for their clinician, on every kind of page.
"""
import pytest

from tests.factories import checkin_body

TODAY = "2026-11-23"  # the frozen clock's day in New York

EVERY_FIELD = checkin_body(
    craving=8, mood=2, sleep_hours=6.25, sleep_quality=2, used_substance=True,
    substances=["alcohol", "cannabis"], coping_skills=["urge_surfing", "mindfulness"],
    custom_coping_skills=["a long walk", "called my sister \u00e9\u00e8 \u2713"],
    triggers=["stress", "loneliness", "night_cravings"], medication_taken=True, self_harm_thoughts=False,
    note='"Quoted", \\ backslash, \u00fcn\u00efcode \u2713, a tab\tand a\nnew line',
)
REQUIRED_ONLY = {"craving": 0, "mood": 10, "sleep_hours": 0.0, "used_substance": False}

EDITED_DAY = (
    '{"coping_skills":["urge_surfing"],"craving":1,"created_at":"2026-11-23T17:00:00+00:00",'
    '"custom_coping_skills":[],"date":"2026-11-23","late":false,"medication_taken":null,"mood":6,'
    '"note":"ok day","patient_id":PATIENT,"self_harm_thoughts":null,"sleep_hours":7.5,"sleep_quality":null,'
    '"substances":[],"triggers":["stress"],"updated_at":"2026-11-23T17:00:00+00:00","used_substance":false,'
    '"version":2}'
)
REQUIRED_DAY = (
    '{"coping_skills":[],"craving":0,"created_at":"2026-11-23T17:00:00+00:00","custom_coping_skills":[],'
    '"date":"2026-11-22","late":true,"medication_taken":null,"mood":10,"note":null,"patient_id":PATIENT,'
    '"self_harm_thoughts":null,"sleep_hours":0.0,"sleep_quality":null,"substances":[],"triggers":[],'
    '"updated_at":"2026-11-23T17:00:00+00:00","used_substance":false,"version":1}'
)
FULL_DAY = (
    '{"coping_skills":["mindfulness","urge_surfing"],"craving":8,"created_at":"2026-11-23T17:00:00+00:00",'
    '"custom_coping_skills":["a long walk","called my sister \\u00e9\\u00e8 \\u2713"],"date":"2026-11-21",'
    '"late":true,"medication_taken":true,"mood":2,'
    '"note":"\\"Quoted\\", \\\\ backslash, \\u00fcn\\u00efcode \\u2713, a tab\\tand a\\nnew line",'
    '"patient_id":PATIENT,"self_harm_thoughts":false,"sleep_hours":6.25,"sleep_quality":2,'
    '"substances":["alcohol","cannabis"],"triggers":["loneliness","night_cravings","stress"],'
    '"updated_at":"2026-11-23T17:00:00+00:00","used_substance":true,"version":1}'
)
PAGES = {
    "": f'{{"items":[{EDITED_DAY},{REQUIRED_DAY},{FULL_DAY}],"page":1,"page_size":50,"total":3}}\n',
    "?page_size=1": f'{{"items":[{EDITED_DAY}],"page":1,"page_size":1,"total":3}}\n',
    "?page=2&page_size=2": f'{{"items":[{FULL_DAY}],"page":2,"page_size":2,"total":3}}\n',
    "?page=9": '{"items":[],"page":9,"page_size":50,"total":3}\n',
    "?from=2026-11-22&to=2026-11-22": f'{{"items":[{REQUIRED_DAY}],"page":1,"page_size":50,"total":1}}\n',
}


def put(client, headers, day, body, if_match=None):
    extra = {"If-Match": if_match} if if_match is not None else {}
    response = client.put(f"/api/v1/me/checkins/{day}", headers={**headers, **extra}, json=body)
    assert response.status_code in (200, 201), response.get_data(as_text=True)


@pytest.fixture
def three_days(client, auth):
    """Written through the API, as a phone writes them."""
    put(client, auth, "2026-11-21", EVERY_FIELD)
    put(client, auth, "2026-11-22", REQUIRED_ONLY)
    put(client, auth, TODAY, checkin_body())
    put(client, auth, TODAY, checkin_body(craving=1), if_match='"1"')


@pytest.mark.parametrize("query", list(PAGES))
@pytest.mark.parametrize("reader", ["patient", "clinician"])
def test_a_page_of_check_ins_answers_the_same_bytes(client, auth, clinician_auth, patient, three_days, reader, query):
    path = "/api/v1/me/checkins" if reader == "patient" else f"/api/v1/patients/{patient.id}/checkins"

    response = client.get(path + query, headers=auth if reader == "patient" else clinician_auth)

    assert response.status_code == 200
    assert response.get_data(as_text=True) == PAGES[query].replace("PATIENT", str(patient.id))
