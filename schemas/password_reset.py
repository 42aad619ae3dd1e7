"""Asking for a password-reset link, and setting the new password with it."""
from marshmallow import Schema, fields, validate


class PasswordResetRequestSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254),
                         metadata={"description": "The address the account signs in with."})


class PasswordResetSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=512),
                          metadata={"description": "The token from the e-mailed link (after the '#')."})
    new_password = fields.String(
        required=True, validate=validate.Length(min=1, max=256),
        metadata={"description": "At least 12 characters, not a common password, not the e-mail address."})


class PasswordResetAskedSchema(Schema):
    detail = fields.String(required=True, metadata={
        "example": "If an account uses this address, a link to choose a new password is on its way."})
