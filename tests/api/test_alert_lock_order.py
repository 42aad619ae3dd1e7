"""Working an alert takes the patient's lock before the alert's, in the order every check-in writer takes them."""
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from models import db
from services.alerts import raise_alert


def test_acknowledging_waits_for_the_patients_writer_before_it_locks_the_alert(
        postgres_only, app, client, make, clock):
    clinician = make.clinician()
    patient = make.patient(clinician)
    alert = raise_alert(patient, "self_harm", "urgent", "s", {}, clock.now.date(), clock.now)
    db.session.commit()
    alert_id, patient_id, headers = alert.id, patient.id, make.headers(clinician)

    answers = []
    with db.engine.connect() as writer:
        # A check-in writer of this patient: it holds the patient's lock, and will want the alert next.
        writer.execute(text("SELECT user_id FROM patient_profiles WHERE user_id = :id FOR NO KEY UPDATE"),
                       {"id": patient_id})

        def acknowledge():
            with app.app_context():
                answers.append(client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=headers, json={}))

        clinician_thread = threading.Thread(target=acknowledge)
        clinician_thread.start()
        clinician_thread.join(timeout=1.5)
        assert clinician_thread.is_alive()  # queued behind the writer

        # The writer can still take the alert: the clinician is not holding it while waiting for the patient.
        try:
            writer.execute(text("SELECT id FROM alerts WHERE id = :id FOR UPDATE NOWAIT"), {"id": alert_id})
        except OperationalError:
            pytest.fail("the acknowledgement locked the alert before the patient: the two would deadlock")
        writer.commit()

    clinician_thread.join(timeout=30)
    assert [answer.status_code for answer in answers] == [200]
