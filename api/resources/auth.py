"""Log in, refresh, log out (here or everywhere), register, change password, who am I;
and an admin disabling or re-enabling an account."""
from flask.views import MethodView
from flask_jwt_extended import current_user, get_jwt, jwt_required
from flask_smorest import Blueprint

from models import utcnow
from schemas.auth import LoginSchema, PasswordChangeSchema, RegisterSchema, TokenPairSchema
from schemas.patient import MeSchema
from services.accounts import (
    WrongCurrentPassword, change_password, logout_everywhere, register_patient, set_account_active,
)
from services.errors import AuthenticationFailed
from services.sessions import RefreshReused, authenticate, end_session, rotate_refresh, start_session

from ..auth import bearer, commit, issue_tokens, lockout_policy
from ..security import login_limits, password_change_limits, throttled

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Accounts and tokens")


@blp.route("/auth/login")
class Login(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(200, TokenPairSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    @throttled(login_limits)
    def post(self, credentials):
        """Log in with e-mail and password.

        Throttled per account and per client address (429 with Retry-After).
        Ten wrong passwords in a row lock the account for 15 minutes; a locked
        account answers exactly like a wrong password.
        """
        now = utcnow()
        try:
            user = authenticate(credentials["email"], credentials["password"], now, lockout_policy())
        except AuthenticationFailed:
            commit()  # the failure count must stick
            raise
        tokens = issue_tokens(user)
        start_session(user, tokens["refresh_jti"], now, tokens["session_id"])
        commit()
        return tokens


@blp.route("/auth/register")
class Register(MethodView):
    @blp.arguments(RegisterSchema)
    @blp.response(201, TokenPairSchema)
    def post(self, registration):
        """Register an enrolled patient with their invite code; returns tokens."""
        now = utcnow()
        user = register_patient(registration["invite_code"], registration["email"],
                                registration["password"], now)
        tokens = issue_tokens(user)
        start_session(user, tokens["refresh_jti"], now, tokens["session_id"])
        commit()
        return tokens


@blp.route("/auth/refresh")
class Refresh(MethodView):
    @jwt_required(refresh=True)
    @blp.doc(security=bearer)
    @blp.response(200, TokenPairSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    def post(self):
        """Trade the refresh token for a new pair; the old refresh token dies."""
        claims = get_jwt()
        tokens = issue_tokens(current_user, claims["sid"])
        try:
            rotate_refresh(claims["sid"], claims["jti"], tokens["refresh_jti"], utcnow())
        except RefreshReused:
            commit()  # the revocation of the whole family must stick
            raise
        commit()
        return tokens


@blp.route("/auth/logout")
class Logout(MethodView):
    @jwt_required()
    @blp.doc(security=bearer)
    @blp.response(204)
    def post(self):
        """End this session: its access and refresh tokens stop working."""
        end_session(get_jwt()["sid"], utcnow())
        commit()


@blp.route("/me")
class Me(MethodView):
    @jwt_required()
    @blp.doc(security=bearer)
    @blp.response(200, MeSchema)
    def get(self):
        """Return the caller's account (and patient profile)."""
        return current_user



@blp.route("/auth/logout-everywhere")
class LogoutEverywhere(MethodView):
    @jwt_required()
    @blp.doc(security=bearer)
    @blp.response(204)
    def post(self):
        """End every session of the caller on every device: all their tokens stop working."""
        logout_everywhere(current_user, utcnow())
        commit()


@blp.route("/me/password")
class MyPassword(MethodView):
    @jwt_required()
    @blp.doc(security=bearer)
    @blp.arguments(PasswordChangeSchema)
    @blp.response(200, TokenPairSchema)
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    @throttled(password_change_limits)
    def post(self, change):
        """Change the password: every token dies; returns a fresh pair for this device."""
        try:
            change_password(current_user, change["current_password"], change["new_password"],
                            utcnow(), lockout_policy())
        except WrongCurrentPassword:
            commit()  # the failure counts towards the lockout
            raise
        # After the cut-off, so this device's new session outlives it.
        now = utcnow()
        tokens = issue_tokens(current_user)
        start_session(current_user, tokens["refresh_jti"], now, tokens["session_id"])
        commit()
        return tokens


@blp.route("/users/<int:user_id>/disable")
class UserDisable(MethodView):
    @jwt_required()
    @blp.doc(security=bearer)
    @blp.response(204)
    def post(self, user_id):
        """Disable an account of your organization (admin): its tokens die at once."""
        set_account_active(current_user, user_id, False, utcnow())
        commit()


@blp.route("/users/<int:user_id>/enable")
class UserEnable(MethodView):
    @jwt_required()
    @blp.doc(security=bearer)
    @blp.response(204)
    def post(self, user_id):
        """Re-enable an account of your organization (admin); also lifts a lockout."""
        set_account_active(current_user, user_id, True, utcnow())
        commit()
