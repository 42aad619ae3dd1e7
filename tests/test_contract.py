"""openapi.yaml is the contract: generated from the code, and kept in step with it."""
import re
from http import HTTPStatus
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
            # Said outright, so a generated client sends no token there.
            assert operation["security"] == [], f"{method.upper()} {path}"
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
    # Everything from this server: the page names no other origin, and its policy allows none.
    assert "http" not in page.get_data(as_text=True)
    assert "script-src 'self';" in page.headers["Content-Security-Policy"]
    bundle = client.get("/static/redoc/redoc.standalone.js")
    assert bundle.status_code == 200
    bundle.close()


# --- what a generated client is built from -------------------------------------------

# The naming rule: verb_noun in snake_case, the noun in the clinic's words;
# "my" for the caller's own records (/me/...). list_ returns a page or a list,
# get_ one thing, put_ replaces, create_/record_/submit_ add, update_ changes
# part, delete_ removes; an action is its own verb (acknowledge_alert).
# A name never changes when a path does: a client's function names are API.
OPERATION_ID = re.compile(r"[a-z]+(_[a-z0-9]+)+")
# Always answers 409 (sharing with the care team is part of treatment), so it has no 2xx.
NO_SUCCESS = {("post", "/api/v1/me/consents/care-team/revoke")}


def test_every_operation_has_a_stable_verb_noun_operation_id(app):
    ids = [operation.get("operationId") for _, _, operation in operations(committed_spec())]

    assert all(id_ and OPERATION_ID.fullmatch(id_) for id_ in ids), [i for i in ids if not i or not
                                                                      OPERATION_ID.fullmatch(i)]
    assert len(set(ids)) == len(ids)


def test_every_operation_declares_the_errors_it_can_give_as_problems(app):
    spec = committed_spec()
    responses = spec["components"]["responses"]
    for method, path, operation in operations(spec):
        declared = operation["responses"]
        name = f"{method.upper()} {path}"
        if operation["security"]:
            assert declared["401"] == {"$ref": "#/components/responses/UNAUTHORIZED"}, name
        if "{" in path:
            assert "404" in declared, name
        if "requestBody" in operation:
            assert {"400", "415", "422"} <= set(declared), name
        if (method, path) not in NO_SUCCESS:
            assert any(status.startswith("2") for status in declared), name
    for status in ("401", "404", "412", "415", "428", "429", "503"):
        name = next(key for key, response in responses.items() if response["description"] ==
                    HTTPStatus(int(status)).phrase)
        assert responses[name]["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert set(responses["SERVICE_UNAVAILABLE"]["headers"]) >= {"Retry-After", "X-Request-ID"}
    assert set(responses["TOO_MANY_REQUESTS"]["headers"]) >= {"Retry-After", "X-Request-ID"}


def test_every_answer_declares_its_request_id(app):
    spec = committed_spec()
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            if "$ref" in response:
                response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
            assert "X-Request-ID" in response.get("headers", {}), f"{method.upper()} {path} {status}"


def test_a_nullable_nested_object_is_its_model_or_null(app):
    """Not a free-form object beside the model, which generators pick instead of the model."""
    schemas = committed_spec()["components"]["schemas"]

    assert schemas["Me"]["properties"]["patient"] == {
        "anyOf": [{"$ref": "#/components/schemas/OwnProfile"}, {"type": "null"}]}
    assert schemas["SyncOutcome"]["properties"]["problem"]["anyOf"][0] == {"$ref": "#/components/schemas/Problem"}


def test_a_request_body_has_no_read_only_field(app):
    """So a client can send back what it read, minus nothing it must know to strip."""
    spec = committed_spec()
    schemas = spec["components"]["schemas"]
    for method, path, operation in operations(spec):
        if "requestBody" in operation:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            properties = schemas[ref.rsplit("/", 1)[1]].get("properties", {})
            assert not [field for field, shape in properties.items() if shape.get("readOnly")], f"{method} {path}"


def test_an_always_present_field_is_required(app):
    schemas = committed_spec()["components"]["schemas"]

    assert set(schemas["Me"]["required"]) == set(schemas["Me"]["properties"])
    assert {"type", "title", "status"} <= set(schemas["Problem"]["required"])
    assert set(schemas["Checkin"]["required"]) == set(schemas["Checkin"]["properties"])  # version too
