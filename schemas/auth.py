from marshmallow import Schema, fields, validate

from .fields import Text

DEVICE_TOKEN = (
    "Names this device once it has signed in to this e-mail address. Keep it and send it with "
    "every login: a device that signed in before is not kept out when someone else's wrong "
    "passwords pause the address's sign-in (its own wrong passwords pause only itself).")


class LoginSchema(Schema):
    email = Text(required=True, validate=validate.Length(min=3, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))
    device_token = fields.String(load_default=None, validate=validate.Length(max=512),
                                 metadata={"description": DEVICE_TOKEN})


class RegisterSchema(Schema):
    invite_code = Text(required=True, validate=validate.Length(min=6, max=40))
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(min=12, max=256))


class TokenPairSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds the access token lives."})
    device_token = fields.String(metadata={"description": DEVICE_TOKEN + " Sent by login and registration."})


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=256))
    new_password = fields.String(required=True, validate=validate.Length(min=12, max=256))
