"""The answer to a check-in PUT shows the check-in as a read of the day shows it, plus crisis resources.

The write's answer reads each value of the check-in through the write
(services.checkins.CheckinWrite): every one must be the check-in's own.
"""
import pytest

TODAY = "2026-11-23"  # the frozen clock's day in New York
EVERY_FIELD = {
    "craving": 7, "mood": 3, "sleep_hours": 5.75, "sleep_quality": 2, "used_substance": True,
    "substances": ["alcohol"], "coping_skills": ["urge_surfing"], "custom_coping_skills": ["a walk"],
    "triggers": ["conflict"], "medication_taken": True, "note": "long day",
}


@pytest.mark.parametrize("self_harm_thoughts", [True, False, None])
@pytest.mark.parametrize("edit", [False, True], ids=["created", "updated"])
def test_a_write_answers_the_day_as_read_with_crisis_resources_when_self_harm_is_reported(
        client, auth, self_harm_thoughts, edit):
    path = f"/api/v1/me/checkins/{TODAY}"
    body = {**EVERY_FIELD, "self_harm_thoughts": self_harm_thoughts}
    if edit:
        first = client.put(path, headers=auth, json={**body, "craving": 1, "note": "first"})
        assert first.status_code == 201, first.json
        written = client.put(path, headers={**auth, "If-Match": first.headers["ETag"]}, json=body)
        assert written.status_code == 200, written.json
    else:
        written = client.put(path, headers=auth, json=body)
        assert written.status_code == 201, written.json

    read = client.get(path, headers=auth)

    assert read.status_code == 200
    answer = dict(written.json)
    crisis_resources = answer.pop("crisis_resources")
    assert answer == read.json
    assert written.headers["ETag"] == read.headers["ETag"] == f'"{read.json["version"]}"'
    assert (crisis_resources is not None) == bool(self_harm_thoughts)
    if self_harm_thoughts:
        assert crisis_resources["lifeline"]["call"] == "988"
