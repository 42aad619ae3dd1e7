from marshmallow import Schema, fields, validate

from .fields import FullMatch, Text

CODE = FullMatch(r"^[a-z][a-z0-9_]{1,39}$", error="Use 2-40 lower-case letters, digits or _.")


class CopingSkillSchema(Schema):
    code = fields.String(required=True, validate=CODE)
    label = Text(required=True, validate=validate.Length(min=1, max=120))


class ProgramSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = Text(required=True, validate=validate.Length(min=1, max=200))


class VocabularySchema(Schema):
    """The fixed code lists a check-in may use besides the catalogue."""

    substances = fields.List(fields.String(), required=True)
    triggers = fields.List(fields.String(), required=True)
    coping_skills = fields.List(fields.Nested(CopingSkillSchema), required=True)
