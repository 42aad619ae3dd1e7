"""Extensions, created unbound and bound in create_app."""
import http
import time
from datetime import timedelta
from typing import Any, ClassVar

import marshmallow as ma
from flask import Response, current_app, render_template, url_for
from flask_jwt_extended import JWTManager
from flask_jwt_extended import view_decorators as flask_jwt_view_decorators
from flask_jwt_extended.config import config as jwt_config
from flask_jwt_extended.default_callbacks import default_decode_key_callback
from flask_jwt_extended.tokens import _decode_jwt
from flask_migrate import Migrate
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response
from jwt import ExpiredSignatureError, get_unverified_header
from webargs.flaskparser import FlaskParser

from schemas.checkin import SyncEntrySchema
from schemas.common import ProblemSchema

from .errors import handle_http_exception

PROBLEM_CONTENT_TYPE = "application/problem+json"
REDOC_VERSION = "2.5.4"  # api/static/redoc/README.md
# Everything from this server. ReDoc writes its styles into <style> elements
# (styled-components) and runs its search in a worker it makes from a blob.
DOCS_PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                 "font-src 'self'; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; "
                 "base-uri 'none'; form-action 'none'")


class SchemaKeepingParser(FlaskParser):
    """webargs' parser, building each argument schema once rather than on every request.

    A view's arguments given as a schema class (most of ours) were
    instantiated per request: marshmallow copies every declared field into
    the new instance, a noticeable share of a small request. A schema
    instance holds no state of a load, so one per class serves every request.
    """

    _schemas: ClassVar[dict[type, ma.Schema]] = {}

    def _get_schema(self, argmap, req) -> ma.Schema:
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)

    # Whether each argument schema takes one value per name (no List): kept, like the schemas.
    _one_value_each: ClassVar[dict[ma.Schema, bool]] = {}

    def load_querystring(self, req, schema: ma.Schema) -> Any:
        # A dict of each name's first value, what the proxy hands a field of one
        # value: through the proxy, every name the query leaves out (most of them,
        # on most requests) is looked up by raising and catching werkzeug's
        # BadRequestKeyError, and the proxy asks each field again per request
        # whether it takes many values.
        one_value_each = self._one_value_each.get(schema)
        if one_value_each is None:
            if len(self._one_value_each) >= 512:
                self._one_value_each.clear()  # a schema built per request (a dict's) must not pile up
            one_value_each = self._one_value_each[schema] = not self._makeproxy(req.args, schema).multiple_keys
        return req.args.to_dict() if one_value_each else super().load_querystring(req, schema)


# Before any resource module is imported (they all import this package
# first): @blp.arguments binds the parser when it decorates a view.
Blueprint.ARGUMENTS_PARSER = SchemaKeepingParser()


class WaypointApi(Api):
    """flask-smorest's Api, answering and documenting errors as problem+json."""

    ERROR_SCHEMA = ProblemSchema

    # Documenting a blueprint (marshmallow schemas to JSON Schema) costs far
    # more than registering its routes, and only the docs page and
    # `flask openapi write` read the result. So routes register at once and
    # their documentation is written, in the same order, on first use of
    # `spec`: app start-up (every worker, job, CLI call and test) stays cheap.
    _spec = None
    _undocumented: list = []  # noqa: RUF012 - replaced, never changed in place

    @property
    def spec(self):
        pending, self._undocumented = self._undocumented, []
        for document in pending:
            document(self._spec)
        if pending:
            declare_shared_answers(self._spec)
        return self._spec

    @spec.setter
    def spec(self, value):
        self._spec, self._undocumented = value, []

    def register_blueprint(self, blp, *, parameters=None, **options):
        """Register blp's routes now and its documentation on first use of the spec."""
        name = options.get("name", blp.name)
        app = self._app
        app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        app.register_blueprint(blp, **options)

        def document(spec):
            blp.register_views_in_doc(self, app, spec, name=name, parameters=parameters)
            spec.tag({"name": name, "description": blp.description})

        self._undocumented = [*self._undocumented, document]

    def handle_http_exception(self, error):
        return handle_http_exception(error)

    def _openapi_redoc(self):
        """Serve the docs page: ReDoc from this server (api/static/redoc), under the page's own policy."""
        page = render_template("api_docs.html", title=self.spec.title,
                               spec_url=url_for(f"{self._make_doc_blueprint_name()}.openapi_json"))
        return Response(page, mimetype="text/html", headers={"Content-Security-Policy": DOCS_PAGE_CSP})

    def _register_responses(self):
        for name, header in SHARED_HEADERS.items():
            self.spec.components.header(name, header)
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase,
                                        "headers": {"X-Request-ID": _header_ref("X-Request-ID")}}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            if status in (429, 503):
                response["headers"]["Retry-After"] = _header_ref("Retry-After")
            if status == 401:
                response["headers"]["WWW-Authenticate"] = _header_ref("WWW-Authenticate")
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default: dict[str, Any] = {"description": "Default error response", "schema": self.ERROR_SCHEMA,
                    "headers": {"X-Request-ID": _header_ref("X-Request-ID")}}
        prepare_response(default, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


SHARED_HEADERS = {
    "X-Request-ID": {"description": "This request's id (a proxy's, if it sent one that looks like an id): "
                                    "quote it to support; the server's logs carry it.",
                     "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before trying again.",
                    "schema": {"type": "integer", "minimum": 0}},
    "WWW-Authenticate": {"description": "The scheme to authenticate with: Bearer.", "schema": {"type": "string"}},
}
_METHODS = ("get", "put", "post", "patch", "delete")
# Operations whose caller has a token but may still be of the wrong role or
# outside the patient's care team; the rest answer every valid token.
_ANY_SIGNED_IN = {"get_me", "refresh_tokens", "log_out", "log_out_everywhere", "change_my_password"}


def _header_ref(name: str) -> dict:
    return {"$ref": f"#/components/headers/{name}"}


def declare_shared_answers(spec) -> None:
    """Declare on every operation the answers that come from the app, not the view.

    The token check (401, 403), the id in the path (404), the strict body
    reader (400, 415) and an unreachable database (503) answer before or
    around any view: declared here once, so no operation forgets one and a
    generated client has a typed Problem for each.
    """
    for path, operations in spec._paths.items():
        for method in _METHODS:
            operation = operations.get(method)
            if operation is None:
                continue
            responses = operation["responses"]
            shared = []
            if operation.get("security"):
                shared.append(401)
                if operation.get("operationId") not in _ANY_SIGNED_IN:
                    shared.append(403)
            if "{" in path:
                shared.append(404)
            if "requestBody" in operation:
                shared += [400, 415]
            if operation.get("operationId") != "check_liveness":
                shared.append(503)
            for status in shared:
                if str(status) not in responses:
                    responses[str(status)] = spec.components.get_ref("response", http.HTTPStatus(status).name)
            for response in responses.values():
                if "$ref" not in response:
                    response.setdefault("headers", {})["X-Request-ID"] = _header_ref("X-Request-ID")
            operation["responses"] = dict(sorted(responses.items()))
    _require_what_answers_always_hold(spec)
    # flask-smorest's own pagination header schema; Waypoint pages in the body (schemas.common.paged).
    spec.components.schemas.pop("PaginationMetadata", None)
    for schema in spec.components.schemas.values():
        _split_nullable_enums(schema)


# Fields of an answer that a dump may leave out (the key is absent, not null).
SOMETIMES_ABSENT = {"Problem.detail", "Problem.errors",
                    # A disclosure leaves out what the outside recipient does not need.
                    "ExportPatient.email", "ExportPatient.timezone"}
# Answers dumped from a stored row, every field present, whose schema inherits
# the required list of the request it extends (a check-in's content).
COMPLETE = {"Checkin", "CheckinWrite"}


def _require_what_answers_always_hold(spec) -> None:
    """List every field of a response-only schema as required, so clients type it as present.

    A response is dumped from a model or a service's dict that carries every
    field (null where empty); schemathesis checks each answer against this.
    A schema that is also a request body, or that lists its required fields
    itself (its other fields may be absent), keeps its own list.
    """
    schemas = spec.components.schemas
    sent = _reachable(schemas, [operation.get("requestBody") for operations in spec._paths.values()
                                for operation in operations.values() if isinstance(operation, dict)])
    for name, schema in schemas.items():
        if name in sent or "properties" not in schema or (schema.get("required") and name not in COMPLETE):
            continue
        required = [field for field in schema["properties"] if f"{name}.{field}" not in SOMETIMES_ABSENT]
        if required:
            schema["required"] = sorted(required)


def _split_nullable_enums(node) -> None:
    """Write an enum that allows null as anyOf [the enum, null].

    apispec writes {type: [string, null], enum: [..., null]}, valid but read by
    generators as a union of odd types; the anyOf is an Enum | None.
    """
    if isinstance(node, list):
        for child in node:
            _split_nullable_enums(child)
        return
    if not isinstance(node, dict):
        return
    for child in node.values():
        _split_nullable_enums(child)
    if None in node.get("enum", ()) and isinstance(node.get("type"), list):
        kinds = [kind for kind in node.pop("type") if kind != "null"]
        values = [value for value in node.pop("enum") if value is not None]
        node["anyOf"] = [{"type": kinds[0] if len(kinds) == 1 else kinds, "enum": values}, {"type": "null"}]


def _reachable(schemas: dict, roots: list) -> set[str]:
    """Return the names of the schemas roots refer to, directly or through other schemas."""
    found, pending = set(), list(roots)
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in found:
                    found.add(name)
                    pending.append(schemas[name])
            pending.extend(value for key, value in node.items() if key != "$ref")
        elif isinstance(node, list):
            pending.extend(node)
    return found


class WaypointJWTManager(JWTManager):
    """flask-jwt-extended's manager, reading a token once where it read it three times.

    To choose the key, the stock manager decodes every token twice without
    checking it (claims, then header) before the checked decode; PyJWT's
    base64 checks make each read a noticeable share of a request. Every
    Waypoint token is signed with the one configured key, so the checked
    decode alone decides. A registered decode_key_loader, or an expired
    token (whose loader is handed the header and claims), takes the stock path.
    """

    # Claims of tokens this process verified, by token and the settings that
    # verified it. A token is the same bytes on every request of a session, and
    # its signature and claims cannot change: only time can end it, so a hit is
    # checked for expiry again. Revocation is not decided here: the token's
    # session is read from the database on every request (api.auth).
    _verified: ClassVar[dict[tuple, dict]] = {}
    VERIFIED_TOKENS_KEPT = 4096

    def _decode_jwt_from_config(self, encoded_token: str, csrf_value=None, allow_expired: bool = False) -> dict:
        if self._decode_key_callback is not default_decode_key_callback or allow_expired or csrf_value:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        # Every setting that decides whether a token passes (jwt_config derives the key, the
        # algorithms and the claims' checks from these), as set, from one look at the config:
        # each of jwt_config's derived settings looked through current_app again.
        settings = current_app.config
        leeway = settings["JWT_DECODE_LEEWAY"]
        key = (encoded_token, settings["JWT_SECRET_KEY"], settings["SECRET_KEY"], settings["JWT_PUBLIC_KEY"],
               settings["JWT_ALGORITHM"], _hashable(settings["JWT_DECODE_ALGORITHMS"]),
               _hashable(settings["JWT_DECODE_AUDIENCE"]), settings["JWT_DECODE_ISSUER"], settings["JWT_VERIFY_SUB"],
               leeway, settings["JWT_IDENTITY_CLAIM"])
        claims = self._verified.get(key)
        if claims is not None and claims.get("exp", float("inf")) + _seconds(leeway) > time.time():
            return dict(claims)
        claims = self._verify(encoded_token, csrf_value, allow_expired)
        if len(self._verified) >= self.VERIFIED_TOKENS_KEPT:
            self._verified.clear()  # a rare reset beats the upkeep of an LRU on every request
        self._verified[key] = claims
        return dict(claims)

    def _verify(self, encoded_token: str, csrf_value, allow_expired: bool) -> dict:
        """Check the token's signature and claims with the configured key (one decode)."""
        try:
            return _decode_jwt(
                algorithms=jwt_config.decode_algorithms, audience=jwt_config.decode_audience,
                csrf_value=csrf_value, encoded_token=encoded_token,
                identity_claim_key=jwt_config.identity_claim_key, issuer=jwt_config.decode_issuer,
                leeway=jwt_config.leeway, secret=jwt_config.decode_key,
                verify_aud=jwt_config.decode_audience is not None, verify_sub=jwt_config.verify_sub,
                allow_expired=allow_expired,
            )
        except ExpiredSignatureError:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)


def _hashable(setting: Any) -> Any:
    """Return a setting as part of a key: a list or set of values (algorithms, audiences) frozen."""
    if isinstance(setting, list | tuple):
        return tuple(setting)
    if isinstance(setting, set | frozenset):
        return frozenset(setting)
    return setting


def _seconds(leeway) -> float:
    return leeway.total_seconds() if isinstance(leeway, timedelta) else float(leeway)


# Headers of tokens, by their header segment. Right after the checked decode,
# flask-jwt-extended reads the token a second time, unchecked, for its header:
# PyJWT then base64-checks every character of all three segments again (about
# 0.1 ms of the floor). The header is the token's first segment and every
# Waypoint token has the same one, so it is read once per process.
_headers_by_segment: dict[str, dict] = {}


def _token_header(encoded_token: str) -> dict:
    """Return a token's header, read once per distinct header segment."""
    segment = encoded_token.split(".", 1)[0]
    header = _headers_by_segment.get(segment)
    if header is None:
        header = get_unverified_header(encoded_token)
        if len(_headers_by_segment) < WaypointJWTManager.VERIFIED_TOKENS_KEPT:
            _headers_by_segment[segment] = header
    return dict(header)


# Called only after decode_token accepted the token, so the token is well formed.
flask_jwt_view_decorators.get_unverified_jwt_headers = _token_header


def document_items_schemas(api_: Api) -> None:
    """Let a list of raw dicts document its entries as a named schema.

    The sync queue validates entries one by one, so its field is a list of
    plain objects; metadata={"items_schema": NAME} still shows their shape.
    """
    if "SyncEntry" not in api_.spec.components.schemas:
        api_.spec.components.schema("SyncEntry", schema=SyncEntrySchema)

    def items_schema(_converter, field, ret):
        name = field.metadata.get("items_schema")
        if name:
            ret.pop("items_schema", None)
            ret["items"] = {"$ref": f"#/components/schemas/{name}"}
        return ret

    api_.ma_plugin.converter.add_attribute_function(items_schema)


api = WaypointApi()
jwt = WaypointJWTManager()
# render_as_batch: SQLite can only alter tables by copying them.
migrate = Migrate(render_as_batch=True, compare_type=True)
