"""Examples for the docs and generated clients: one patient's morning, in the contract's own shapes.

Redocly's lint (.ci/run) checks each against its schema.
"""

LOGIN = {"email": "sam@example.org", "password": "correct horse battery"}

TOKENS = {
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl",
    "refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsInR5cGUiOiJyZWZyZXNoIn0.c2ln",
    "token_type": "Bearer", "expires_in": 900,
    "device_token": "dt.eyJkIjoiN2YzYSJ9.c2ln",
}

ME = {
    "id": 42, "email": "sam@example.org", "display_name": "Sam", "role": "patient",
    "organization": {"id": 1, "name": "Riverside Recovery"},
    "patient": {
        "id": 42, "email": "sam@example.org", "display_name": "Sam", "timezone": "America/New_York",
        "level_of_care": "iop", "recovery_start_date": "2026-10-01", "enrolled_at": "2026-10-01T14:00:00Z",
        "registered": True, "program": {"id": 3, "name": "Evening IOP"},
    },
}

CHECKIN_CONTENT = {
    "craving": 4, "mood": 6, "sleep_hours": 7.5, "sleep_quality": 3, "used_substance": False,
    "coping_skills": ["urge_surfing"], "triggers": ["stress"], "note": "Long day; walked it off.",
}

CHECKIN_WRITTEN = {
    **CHECKIN_CONTENT, "patient_id": 42, "date": "2026-11-23", "late": False, "version": 1,
    "substances": [], "custom_coping_skills": [], "medication_taken": None, "self_harm_thoughts": None,
    "created_at": "2026-11-23T17:00:00Z", "updated_at": "2026-11-23T17:00:00Z", "crisis_resources": None,
}

SYNC_REQUEST = {"checkins": [
    {"date": "2026-11-21", "craving": 3, "mood": 6, "sleep_hours": 7.0, "used_substance": False},
    {"date": "2026-11-22", "craving": 5, "mood": 5, "sleep_hours": 6.5, "used_substance": False,
     "base_version": 1},
]}

ALERT_NOTE = {"note": "Called Sam; plan adjusted with the group counsellor."}
