"""Fixtures for the scheduled-mail tests: enrolled patients (the SMTP servers are in tests/conftest.py)."""
import pytest

from .support import ENROLLED_AT, set_preferences


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
