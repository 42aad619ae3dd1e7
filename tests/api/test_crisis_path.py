"""The crisis path end to end: a self-harm answer reaches the care team at once,
says nothing clinical in the mail, and meets the patient with crisis resources."""
from sqlalchemy import select

from models import Alert, db
from tests.factories import checkin_body


def test_a_self_harm_check_in_alerts_every_clinician_and_answers_with_crisis_resources(
        client, make, sent_mail):
    first, second = make.clinician(name="Dr First"), None
    patient = make.patient(first, name="Robin Quill")
    second = make.clinician(patient.organization, name="Dr Second")
    make.add_to_care_team(patient, second)
    outsider = make.clinician(patient.organization)
    patient.organization.crisis_phone = "+1 555 0199"
    db.session.commit()

    answer = client.put("/api/v1/me/checkins/2026-11-23", headers=make.headers(patient),
                        json=checkin_body(self_harm_thoughts=True, note="a very private note"))

    assert answer.status_code == 201, answer.json
    resources = answer.json["crisis_resources"]
    assert resources["lifeline"]["call"] == "988" and resources["program"]["phone"] == "+1 555 0199"
    alerts = db.session.scalars(select(Alert).where(Alert.patient_id == patient.id)).all()
    assert [(a.rule, a.severity.value, a.status.value) for a in alerts] == [("self_harm", "urgent", "open")]

    recipients = sorted(mail.to for mail in sent_mail)
    assert recipients == sorted([first.email, second.email])
    assert outsider.email not in recipients
    for mail in sent_mail:
        text = f"{mail.subject}\n{mail.text}\n{mail.html or ''}".lower()
        for clinical in ("robin", "quill", "self-harm", "self_harm", "harm", "craving", "private note",
                         "988", str(patient.email)):
            assert clinical not in text, clinical


def test_a_retried_self_harm_check_in_shows_the_resources_again_but_mails_no_one_twice(
        client, make, sent_mail):
    clinician = make.clinician()
    patient = make.patient(clinician)
    body = checkin_body(self_harm_thoughts=True)
    headers = make.headers(patient)

    client.put("/api/v1/me/checkins/2026-11-23", headers=headers, json=body)
    retry = client.put("/api/v1/me/checkins/2026-11-23", headers=headers, json=body)

    assert retry.status_code == 200 and retry.json["crisis_resources"]["lifeline"]["call"] == "988"
    assert len(sent_mail) == 1


def test_an_ordinary_check_in_carries_no_crisis_resources_and_sends_nothing(client, make, sent_mail):
    patient = make.patient()

    answer = client.put("/api/v1/me/checkins/2026-11-23", headers=make.headers(patient),
                        json=checkin_body(self_harm_thoughts=False))

    assert answer.json["crisis_resources"] is None
    assert sent_mail == []


def test_a_self_harm_answer_in_an_offline_queue_gets_the_same_response(client, make, sent_mail):
    patient = make.patient()

    answer = client.post("/api/v1/me/checkins/sync", headers=make.headers(patient), json={"checkins": [
        {"date": "2026-11-22", **checkin_body(self_harm_thoughts=True)},
        {"date": "2026-11-23", **checkin_body()},
    ]})

    crisis = [result["crisis_resources"] for result in answer.json["results"]]
    assert crisis[0]["lifeline"]["call"] == "988" and crisis[1] is None
    assert len(sent_mail) == 1


def test_the_audit_log_accounts_for_the_whole_crisis_scenario(client, make, sent_mail):
    clinician = make.clinician(name="Dr First")
    patient = make.patient(clinician, name="Robin Quill")
    outsider = make.clinician(patient.organization)
    admin = make.admin(patient.organization)
    ids = {"patient": patient.id, "clinician": clinician.id, "outsider": outsider.id}
    staff = make.headers(clinician)

    # The patient writes; the care team finds, reads and works the alert; a
    # colleague off the care team tries to look and is turned away.
    client.put("/api/v1/me/checkins/2026-11-23", headers=make.headers(patient),
               json=checkin_body(self_harm_thoughts=True, note="a very private note"))
    alert_id = client.get("/api/v1/alerts", headers=staff).json["items"][0]["id"]
    client.get(f"/api/v1/patients/{ids['patient']}/checkins", headers=staff)
    client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=staff, json={"note": "Called; safe tonight"})
    client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=staff)
    client.get(f"/api/v1/patients/{ids['patient']}/checkins", headers=make.headers(outsider))

    trail = client.get(f"/api/v1/audit-log?patient_id={ids['patient']}&page_size=50",
                       headers=make.headers(admin)).json["items"]
    told = [(event["actor_id"], event["action"], event["resource"], event["outcome"])
            for event in reversed(trail)]

    assert told == [
        (ids["patient"], "write", "checkins.MyCheckinDay", "allowed"),
        (ids["clinician"], "read", "alerts.Alerts", "allowed"),
        (ids["clinician"], "read", "checkins.PatientCheckins", "allowed"),
        (ids["clinician"], "write", "alerts.AlertAcknowledge", "allowed"),
        (ids["clinician"], "write", "alerts.AlertResolve", "allowed"),
        (ids["outsider"], "read", "checkins.PatientCheckins", "denied"),
    ]
    assert all(event["patient_id"] == ids["patient"] for event in trail)
    assert "private note" not in str(trail) and "Called" not in str(trail)
