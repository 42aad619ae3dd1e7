"""Shapes shared by every resource: the error body and pagination."""
from typing import Any

from marshmallow import Schema, fields, missing, validate

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


class QuickDump(Schema):
    """A schema whose dump reads each field's value itself: marshmallow's result, in fewer calls.

    Marshmallow reaches every value through four calls (the field's
    serialize and get_value, the schema's get_attribute, utils.get_value),
    each asking again what kind of object it reads: half the dump of a
    page of check-ins (50 of them: 12.3 M instructions, 5.6 M this way,
    counted by callgrind). Here a field that leaves those calls
    as marshmallow wrote them is read the way utils.get_value reads it,
    its kind of object asked once per object; any other field (a name
    with a dot, its own serialize or get_value) goes through marshmallow's
    serialize, as before. The values then go through each field's own
    _serialize, so the result is the same.
    """

    def _serialize(self, obj: Any, *, many: bool = False) -> Any:
        if many and obj is not None:
            return [self._serialize(item) for item in obj]
        plan = self.__dict__.get("_quick_dump_plan")
        if plan is None:
            plan = self._quick_dump_plan = self._plan_quick_dump()
        result = self.dict_class()
        keyed = hasattr(obj, "__getitem__")
        for key, name, attribute, field in plan:
            if attribute is None:  # marshmallow's own way
                value = field.serialize(name, obj, accessor=self.get_attribute)
                if value is not missing:
                    result[key] = value
                continue
            if keyed:
                try:
                    value = obj[attribute]
                except (KeyError, IndexError, TypeError, AttributeError):
                    value = getattr(obj, attribute, missing)
            else:
                value = getattr(obj, attribute, missing)
            if value is missing:
                value = field.dump_default() if callable(field.dump_default) else field.dump_default
                if value is missing:
                    continue
            result[key] = field._serialize(value, name, obj)
        return result

    def _plan_quick_dump(self) -> list[tuple[str, str, str | None, fields.Field]]:
        """Return each dumped field's key, name, attribute to read (None: marshmallow's way) and field."""
        own_reading = type(self).get_attribute is not Schema.get_attribute
        plan = []
        for name, field in self.dump_fields.items():
            kind = type(field)
            attribute = name if field.attribute is None else field.attribute
            marshmallows_way = (own_reading or "." in attribute or not field._CHECK_ATTRIBUTE
                                or kind.serialize is not fields.Field.serialize
                                or kind.get_value is not fields.Field.get_value)
            plan.append((name if field.data_key is None else field.data_key, name,
                         None if marshmallows_way else attribute, field))
        return plan


class PageSchema(QuickDump):
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
