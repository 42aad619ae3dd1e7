"""Log in, refresh, log out (here or everywhere), register, change password, who am I;
and an admin disabling or re-enabling an account."""
from flask import current_app, request
from flask.views import MethodView
from flask_jwt_extended import get_jwt
from flask_smorest import Blueprint

from models import LoginDevice, utcnow
from schemas import examples
from schemas.auth import LoginSchema, PasswordChangeSchema, RegisterSchema, TokenPairSchema
from schemas.patient import MeSchema
from services.accounts import (
    WrongCurrentPassword,
    change_password,
    logout_everywhere,
    register_patient,
    set_account_active,
)
from services.errors import AuthenticationFailed, LoginPaused, SessionExpired
from services.lockout import device_in_token, device_token, remember_device
from services.sessions import RefreshReused, authenticate, end_session, rotate_refresh, start_session

from ..auth import commit, current_user, issue_tokens, lockout_policy, session_lifetime
from ..authenticated import authenticated
from ..errors import RETRY_AFTER
from ..security import login_limits, password_change_limits, throttled

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Accounts and tokens")


@blp.route("/auth/login")
class Login(MethodView):
    @blp.arguments(LoginSchema, example=examples.LOGIN)
    @blp.response(200, TokenPairSchema, example=examples.TOKENS)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    @throttled(login_limits)
    @blp.doc(operationId="log_in", security=[])
    def post(self, credentials):
        """Log in with e-mail and password.

        Throttled per account and per client address (429 with Retry-After).
        Ten wrong passwords in a row pause sign-in for the address for 15
        minutes: 429 of type login-paused, whatever the password, which was
        not checked. A login sending the device_token of an earlier sign-in
        to the address is not paused by that (nor throttled with it): its own
        ten wrong passwords pause only that device.
        """
        now = utcnow()
        email = credentials["email"]
        device_id = device_in_token(credentials["device_token"], email, *_device_settings(now))
        try:
            signed_in = authenticate(email, credentials["password"], now, lockout_policy(), device_id)
        except LoginPaused as paused:
            _retry_after(paused, now)
            raise
        except AuthenticationFailed:
            commit()  # the failure count must stick
            raise
        tokens = _signed_in(signed_in.user, signed_in.device, now)
        commit()
        return tokens


@blp.route("/auth/register")
class Register(MethodView):
    @blp.arguments(RegisterSchema)
    @blp.response(201, TokenPairSchema)
    @blp.doc(operationId="register_patient", security=[])
    def post(self, registration):
        """Register an enrolled patient with their invite code; returns tokens."""
        now = utcnow()
        user = register_patient(registration["invite_code"], registration["email"],
                                registration["password"], now)
        tokens = _signed_in(user, remember_device(None, user.email, now), now)
        commit()
        return tokens


@blp.route("/auth/refresh")
class Refresh(MethodView):
    @authenticated(refresh=True)
    @blp.doc(operationId="refresh_tokens")
    @blp.response(200, TokenPairSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    def post(self):
        """Trade the refresh token for a new pair; the old refresh token dies.

        A session lives 30 days from its sign-in however often it is refreshed
        (SESSION_LIFETIME_DAYS); past that the refresh answers 401 of type
        session-expired and the session is ended: log in again.
        """
        claims = get_jwt()
        tokens = issue_tokens(current_user, claims["sid"])
        try:
            rotate_refresh(claims["sid"], claims["jti"], tokens["refresh_jti"], utcnow(), session_lifetime())
        except (RefreshReused, SessionExpired):
            commit()  # the end of the session must stick
            raise
        commit()
        return tokens


@blp.route("/auth/logout")
class Logout(MethodView):
    @authenticated
    @blp.doc(operationId="log_out")
    @blp.response(204)
    def post(self):
        """End this session: its access and refresh tokens stop working."""
        end_session(get_jwt()["sid"], utcnow())
        commit()


@blp.route("/me")
class Me(MethodView):
    @authenticated
    @blp.doc(operationId="get_me")
    @blp.response(200, MeSchema, example=examples.ME)
    def get(self):
        """Return the caller's account (and patient profile)."""
        return current_user



@blp.route("/auth/logout-everywhere")
class LogoutEverywhere(MethodView):
    @authenticated
    @blp.doc(operationId="log_out_everywhere")
    @blp.response(204)
    def post(self):
        """End every session of the caller on every device: all their tokens stop working."""
        logout_everywhere(current_user, utcnow())
        commit()


@blp.route("/me/password")
class MyPassword(MethodView):
    @authenticated
    @blp.doc(operationId="change_my_password")
    @blp.arguments(PasswordChangeSchema)
    @blp.response(200, TokenPairSchema)
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    @throttled(password_change_limits)
    def post(self, change):
        """Change the password: every token dies; returns a fresh pair for this device."""
        try:
            change_password(current_user, change["current_password"], change["new_password"],
                            utcnow(), lockout_policy())
        except LoginPaused as paused:
            _retry_after(paused, utcnow())
            raise
        except WrongCurrentPassword:
            commit()  # the failure counts towards the lockout
            raise
        # After the cut-off, so this device's new session outlives it.
        now = utcnow()
        tokens = issue_tokens(current_user)
        start_session(current_user, tokens["refresh_jti"], now, tokens["session_id"])
        commit()
        return tokens


@blp.route("/users/<id:user_id>/disable")
class UserDisable(MethodView):
    @authenticated
    @blp.doc(operationId="disable_user")
    @blp.response(204)
    def post(self, user_id):
        """Disable an account of your organization (admin): its tokens die at once."""
        set_account_active(current_user, user_id, False, utcnow())
        commit()


@blp.route("/users/<id:user_id>/enable")
class UserEnable(MethodView):
    @authenticated
    @blp.doc(operationId="enable_user")
    @blp.response(204)
    def post(self, user_id):
        """Re-enable an account of your organization (admin); also lifts a lockout."""
        set_account_active(current_user, user_id, True, utcnow())
        commit()


def _retry_after(paused: LoginPaused, now) -> None:
    request.environ[RETRY_AFTER] = str(max(1, int((paused.until - now).total_seconds())))


def _device_settings(now) -> tuple:
    return current_app.config["JWT_SECRET_KEY"], now, current_app.config["LOGIN_DEVICE_TRUST"]


def _signed_in(user, device: LoginDevice, now) -> dict:
    """Open a session for user and name the device it came from."""
    tokens = issue_tokens(user)
    start_session(user, tokens["refresh_jti"], now, tokens["session_id"])
    tokens["device_token"] = device_token(device, current_app.config["JWT_SECRET_KEY"], now)
    return tokens
