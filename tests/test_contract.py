"""openapi.yaml is the contract: generated from the code, and kept in step with it."""
from pathlib import Path

import yaml

from api.extensions import api

OPENAPI = Path(__file__).resolve().parent.parent / "openapi.yaml"
REGENERATE = "flask --app api openapi write --format=yaml openapi.yaml"
PUBLIC_OPERATIONS = {
    ("get", "/healthz"), ("get", "/readyz"),
    ("post", "/api/v1/auth/login"), ("post", "/api/v1/auth/register"),
    # Unsubscribe links work without signing in: the signed token is the credential.
    ("get", "/api/v1/unsubscribe/{token}"), ("post", "/api/v1/unsubscribe/{token}"),
    # A forgotten password: the e-mailed link's token is the credential.
    ("post", "/api/v1/auth/password-reset"), ("post", "/api/v1/auth/password-reset/confirm"),
    ("get", "/api/v1/password-reset"),
}


def committed_spec() -> dict:
    return yaml.safe_load(OPENAPI.read_text())


def operations(spec):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if method in {"get", "put", "post", "patch", "delete"}:
                yield method, path, operation


def test_the_committed_openapi_yaml_is_what_the_code_generates(app):
    assert api.spec.to_dict() == committed_spec(), f"openapi.yaml has drifted: run `{REGENERATE}`"


def test_every_request_body_refuses_unknown_fields(app):
    spec = committed_spec()
    schemas = spec["components"]["schemas"]
    for method, path, operation in operations(spec):
        body = operation.get("requestBody")
        if not body:
            continue
        ref = body["content"]["application/json"]["schema"]["$ref"]
        schema = schemas[ref.rsplit("/", 1)[1]]
        assert schema.get("additionalProperties") is False, f"{method.upper()} {path}"


def test_every_operation_but_the_public_ones_declares_bearer_auth(app):
    spec = committed_spec()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
    }
    for method, path, operation in operations(spec):
        if (method, path) in PUBLIC_OPERATIONS:
            assert "security" not in operation, f"{method.upper()} {path}"
        else:
            assert operation.get("security") == [{"bearerAuth": []}], f"{method.upper()} {path}"


def test_errors_are_documented_as_problem_details(app):
    responses = committed_spec()["components"]["responses"]
    assert set(responses["DEFAULT_ERROR"]["content"]) == {"application/problem+json"}


def test_the_api_docs_page_is_served(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert "text/html" in page.content_type
    assert client.get("/api/docs/openapi.json").json["info"]["title"] == "Waypoint"
