"""Shapes shared by every resource: the error body and pagination."""
from marshmallow import Schema, fields, validate

from .fields import QueryInteger


class ProblemSchema(Schema):
    """An error, as RFC 9457 problem details."""

    type = fields.String(metadata={
        "description": "A URI naming the kind of problem: https://waypoint.example/problems/ followed by, "
                       "among others, token-missing, token-invalid or token-revoked (sign in again), "
                       "token-expired (refresh the token), unauthorized, session-expired, forbidden, "
                       "not-found, validation-error, bad-request, unsupported-media-type, checkin-locked, "
                       "conflict, version-required, stale-version, login-paused, too-many-requests, "
                       "database-unavailable. Branch on it, never on title or detail.",
        "example": "https://waypoint.example/problems/token-expired"})
    title = fields.String(metadata={"description": "Short summary of the kind of problem."})
    status = fields.Integer()
    detail = fields.String(metadata={"description": "What went wrong this time."})
    errors = fields.Dict(
        metadata={"description": "Per-field messages: field name -> list of messages (nested for lists)."}
    )


class PageQuerySchema(Schema):
    # Query values are always text: a strict integer would refuse every page.
    page = QueryInteger(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = QueryInteger(load_default=50, validate=validate.Range(min=1, max=200))


class PageSchema(Schema):
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    total = fields.Integer(required=True)


def paged(items_schema: type[Schema], name: str) -> type[Schema]:
    """Return a page envelope schema around items of items_schema."""
    return type(name, (PageSchema,), {"items": fields.List(fields.Nested(items_schema), required=True)})


def input_of(schema: type[Schema]) -> type[Schema]:
    """Return schema without its read-only fields, named <Noun>Input, for a request body.

    A generated client models the answer and the body separately, so a
    read-modify-write never sends a field (an id, updated_at) the server refuses.
    """
    read_only = tuple(name for name, field in schema._declared_fields.items() if field.dump_only)
    meta = type("Meta", (schema.Meta,), {"exclude": read_only})
    noun = schema.__name__.removesuffix("Schema")
    return type(f"{noun}InputSchema", (schema,), {"Meta": meta, "__doc__": schema.__doc__})
