"""Extensions, created unbound and bound in create_app."""
import http

from flask_jwt_extended import JWTManager
from flask_jwt_extended.config import config as jwt_config
from flask_jwt_extended.default_callbacks import default_decode_key_callback
from flask_jwt_extended.tokens import _decode_jwt
from jwt import ExpiredSignatureError
from flask_migrate import Migrate
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from schemas.common import ProblemSchema

from .errors import handle_http_exception

PROBLEM_CONTENT_TYPE = "application/problem+json"


class WaypointApi(Api):
    """flask-smorest's Api, answering and documenting errors as problem+json."""

    ERROR_SCHEMA = ProblemSchema

    # Documenting a blueprint (marshmallow schemas to JSON Schema) costs far
    # more than registering its routes, and only the docs page and
    # `flask openapi write` read the result. So routes register at once and
    # their documentation is written, in the same order, on first use of
    # `spec`: app start-up (every worker, job, CLI call and test) stays cheap.
    _spec = None
    _undocumented: list = []

    @property
    def spec(self):
        pending, self._undocumented = self._undocumented, []
        for document in pending:
            document(self._spec)
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

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


class WaypointJWTManager(JWTManager):
    """flask-jwt-extended's manager, reading a token once where it read it three times.

    To choose the key, the stock manager decodes every token twice without
    checking it (claims, then header) before the checked decode; PyJWT's
    base64 checks make each read a noticeable share of a request. Every
    Waypoint token is signed with the one configured key, so the checked
    decode alone decides. A registered decode_key_loader, or an expired
    token (whose loader is handed the header and claims), takes the stock path.
    """

    def _decode_jwt_from_config(self, encoded_token: str, csrf_value=None, allow_expired: bool = False) -> dict:
        if self._decode_key_callback is not default_decode_key_callback:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
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


def document_items_schemas(api_: Api) -> None:
    """Let a list of raw dicts document its entries as a named schema.

    The sync queue validates entries one by one, so its field is a list of
    plain objects; metadata={"items_schema": NAME} still shows their shape.
    """
    from schemas.checkin import SyncEntrySchema

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
