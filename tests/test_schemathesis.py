"""Schemathesis over every operation of openapi.yaml: no 5xx, answers as documented.

Run as a patient and as a clinician (with real data behind them), so the
generated requests reach the code behind the access checks, not only 401s.
"""
import os
from datetime import date
from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

OPENAPI = Path(__file__).resolve().parent.parent / "openapi.yaml"
_SPEC = yaml.safe_load(OPENAPI.read_text())
OPERATIONS = [
    (method.upper(), path)
    for path, methods in _SPEC["paths"].items()
    for method in methods
    if method in {"get", "put", "post", "patch", "delete"}
]
CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance,
    response_schema_conformance, response_headers_conformance,
]
# Enough to find a crash in each operation while the suite stays quick;
# WAYPOINT_SCHEMATHESIS_EXAMPLES=500 digs deeper before a release.
EXAMPLES_PER_OPERATION = int(os.environ.get("WAYPOINT_SCHEMATHESIS_EXAMPLES", "25"))


@pytest.fixture
def clinic(make):
    clinician = make.clinician()
    patient = make.patient(clinician)
    make.checkin(patient, date(2026, 11, 21))
    make.checkin(patient, date(2026, 11, 22), used_substance=True, substances=["alcohol"])
    return {"clinician": clinician, "patient": patient}


@pytest.mark.parametrize("role", ["patient", "clinician"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_keeps_its_contract(app, make, clinic, role, method, path):
    schema = schemathesis.openapi.from_dict(_SPEC)
    schema.app = app
    operation = schema[path][method].ok() if hasattr(schema[path][method], "ok") else schema[path][method]
    actor = clinic[role]
    patient_id = clinic["patient"].id
    headers = make.headers(actor)

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def exercise(case):
        if case.path_parameters and "patient_id" in case.path_parameters:
            # Aim at the real patient: random ids only ever meet the 404 path.
            case.path_parameters["patient_id"] = patient_id
        # Logging out ends the session, so each logout example gets its own.
        own_headers = make.headers(actor) if path == "/api/v1/auth/logout" else headers
        case.call_and_validate(headers=own_headers, checks=CHECKS)

    exercise()
