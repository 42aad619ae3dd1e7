"""The caseload-rows job: every stale row recomputed before a clinician opens the caseload."""
from datetime import date, timedelta

from sqlalchemy import select

from jobs.scheduler import run_job
from models import CaseloadRow, db
from tests.factories import create_checkins
from tests.queries import count_queries

TODAY = date(2026, 11, 23)


def kept_days(*patients) -> list:
    db.session.expire_all()
    return [db.session.scalar(select(CaseloadRow.as_of).where(CaseloadRow.patient_id == patient.id))
            for patient in patients]


def test_the_job_keeps_every_patients_figures_for_the_day_and_again_after_midnight(app, make, clock):
    clinician = make.clinician()
    first = make.patient(clinician)
    second = make.patient(make.clinician(), timezone="Asia/Tokyo")  # another organization, already tomorrow
    create_checkins(first, {TODAY - timedelta(days=1): {"craving": 4}})

    report = run_job("caseload-rows", clock.now)

    assert report.extra == {"recomputed": 2, "failed_organizations": 0}
    assert kept_days(first, second) == [TODAY, TODAY + timedelta(days=1)]
    assert run_job("caseload-rows", clock.now).extra["recomputed"] == 0  # nothing stale: nothing done

    clock.advance(hours=12)  # midnight in New York; still the afternoon of the same day in Tokyo
    assert run_job("caseload-rows", clock.now).extra["recomputed"] == 1
    assert kept_days(first, second) == [TODAY + timedelta(days=1), TODAY + timedelta(days=1)]


def test_after_the_job_a_clinicians_first_view_computes_nothing(app, client, make, clock):
    app.config["CASELOAD_CHECK_KEPT_FIGURES"] = False  # count what production runs
    clinician = make.clinician()
    for _ in range(3):
        create_checkins(make.patient(clinician), {TODAY: {"craving": 2}})
    headers = make.headers(clinician)
    run_job("caseload-rows", clock.now)
    db.session.close()

    with count_queries() as statements:
        first = client.get("/api/v1/caseload", headers=headers)
    with count_queries() as again:
        client.get("/api/v1/caseload", headers=headers)

    assert first.status_code == 200 and first.get_json()["total"] == 3
    assert statements() == again() == 3  # the token check, the kept rows, the audit row


def test_a_write_after_the_job_still_shows_at_once(app, client, make, clock):
    clinician = make.clinician()
    patient = make.patient(clinician)
    run_job("caseload-rows", clock.now)

    create_checkins(patient, {TODAY: {"used_substance": True}})

    row = client.get("/api/v1/caseload", headers=make.headers(clinician)).get_json()["items"][0]
    assert row["last_checkin"] == TODAY.isoformat() and row["current_streak"] == 0
