"""Fixtures for the scheduled-mail tests: a real SMTP server on loopback, enrolled patients."""
import pytest

from .support import ENROLLED_AT, MailServer, set_preferences


@pytest.fixture
def smtp_server(real_smtp, app):
    """A running SMTP server that the app's SMTP_URL points at."""
    server = MailServer()
    server.start()
    app.config["SMTP_URL"] = server.url
    yield server
    server.stop()


@pytest.fixture
def stopped_smtp_server(real_smtp, app):
    """An SMTP server that is down until the test calls start()."""
    server = MailServer()
    app.config["SMTP_URL"] = server.url
    yield server
    server.stop()


@pytest.fixture
def enrol(make):
    """Enrol a registered patient (in treatment since October) with the given mail preferences."""
    from models import db

    def enrol(zone: str = "America/New_York", clinician=None, name=None, **preferences):
        patient = make.patient(clinician, timezone=zone, name=name)
        patient.patient_profile.enrolled_at = ENROLLED_AT
        db.session.commit()
        if preferences:
            set_preferences(patient, **preferences)
        return patient

    return enrol
