"""The crisis path: when an answer signals a crisis, and where the patient can get help right now.

One source for both paths: a check-in reporting self-harm thoughts and a
PHQ-9 response with item 9 above 0 show the same resources.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from models import AssessmentResponse, Checkin, Organization, User, db


@dataclass(frozen=True)
class CrisisSignal:
    """A response that must reach the care team at once (PHQ-9 item 9 above 0)."""

    patient_id: int
    response_id: int
    instrument: str
    item9: int | None
    local_day: date


def crisis_signal(response: AssessmentResponse) -> CrisisSignal | None:
    """Return the crisis signal a stored response carries, or None.

    The one place that decides it: the submission uses it to show crisis
    resources, and the alerts' questionnaire hook calls it on every new response.
    """
    if not response.crisis:
        return None
    return CrisisSignal(response.patient_id, response.id, response.instrument, response.item9,
                        response.local_day)


def crisis_resources(organization: Organization) -> dict[str, Any]:
    """Return where a patient in crisis can get help right now."""
    return {
        "message": (
            "You mentioned thoughts of being better off dead or of hurting yourself. "
            "You deserve support right now: you can call or text 988 any time, day or night. "
            "If you are in immediate danger, call 911."
        ),
        "lifeline": {
            "name": "988 Suicide & Crisis Lifeline",
            "call": "988", "text": "988", "chat_url": "https://988lifeline.org",
        },
        "emergency_number": "911",
        # The program's own crisis line, from the organization's settings.
        "program": {"name": organization.name, "phone": organization.crisis_phone},
    }


def checkin_crisis_resources(patient: User, checkin: Checkin,
                             organization: Organization | None = None) -> dict[str, Any] | None:
    """Return crisis resources for the check-in's answer when it reports self-harm thoughts, else None."""
    if not checkin.self_harm_thoughts:
        return None
    return crisis_resources(organization or db.session.get_one(Organization, patient.organization_id))
