"""JWT wiring: who the caller is, and tokens that die with their session."""
from datetime import timedelta

from flask import current_app, has_request_context, request
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    current_user,
    get_jti,
)

from models import User
from models.transactions import commit_unit
from services.accounts import user_by_id
from services.errors import AuthenticationFailed
from services.lockout import LockoutPolicy
from services.sessions import new_session_id, token_holder

from .errors import problem_response
from .extensions import jwt

__all__ = ["bearer", "commit", "current_user", "issue_tokens", "lockout_policy", "session_lifetime"]

# The OpenAPI security requirement for a bearer-protected operation.
bearer: list[dict[str, list[str]]] = [{"bearerAuth": []}]
_TOKEN_HOLDER = "waypoint.token_holder"


def issue_tokens(user: User, session_id: str | None = None) -> dict:
    """Return a fresh access/refresh pair for user in session session_id (new if None)."""
    session_id = session_id or new_session_id()
    claims = {"sid": session_id, "role": user.role.value}
    access = create_access_token(identity=str(user.id), additional_claims=claims)
    refresh = create_refresh_token(identity=str(user.id), additional_claims=claims)
    expires: timedelta = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": access, "refresh_token": refresh, "token_type": "Bearer",
        "expires_in": int(expires.total_seconds()), "session_id": session_id,
        "refresh_jti": get_jti(refresh),
    }


def _unauthorized(detail: str, type_: str = "unauthorized"):
    return problem_response(401, type_, "Unauthorized", detail,
                            headers={"WWW-Authenticate": 'Bearer realm="waypoint"'})


@jwt.user_lookup_loader
def _load_user(_header, payload) -> User | None:
    try:
        return user_by_id(int(payload["sub"]))
    except (AuthenticationFailed, ValueError):
        return None


@jwt.token_in_blocklist_loader
def _token_revoked(_header, payload) -> bool:
    # Dead when its session ended, or when it predates the user's
    # tokens_valid_after (password change, logout everywhere, disabling).
    try:
        user_id = int(payload["sub"])
    except (KeyError, TypeError, ValueError):
        return True
    issued_at = payload.get("iat")
    holder = token_holder(user_id, payload.get("sid"), issued_at if isinstance(issued_at, int) else None)
    if has_request_context():
        # Held for the user lookup that follows, which then finds the caller (and
        # profile and organization) in the session instead of reading them again:
        # the session itself keeps only weak references.
        request.environ[_TOKEN_HOLDER] = holder
    return holder is None


@jwt.unauthorized_loader
def _missing_token(reason):
    # A distinct type per cause, so a phone chooses between refreshing (token-expired)
    # and signing in again (the others) without parsing the English detail.
    return _unauthorized("Log in and send 'Authorization: Bearer <access token>'.", "token-missing")


@jwt.invalid_token_loader
def _invalid_token(reason):
    return _unauthorized("The token is not valid.", "token-invalid")


@jwt.expired_token_loader
def _expired_token(_header, _payload):
    return _unauthorized("The token has expired; refresh it or log in again.", "token-expired")


@jwt.revoked_token_loader
def _revoked_token(_header, _payload):
    return _unauthorized("The token's session has ended; log in again.", "token-revoked")


@jwt.user_lookup_error_loader
def _unknown_user(_header, _payload):
    return _unauthorized("The account is unknown or disabled.")


@jwt.needs_fresh_token_loader
def _needs_fresh(_header, _payload):
    return _unauthorized("Log in again to do this.")


@jwt.token_verification_failed_loader
def _verification_failed(_header, _payload):
    return _unauthorized("The token was refused.")


def lockout_policy() -> LockoutPolicy:
    """Return the configured lockout: failures in a row, and for how long."""
    return LockoutPolicy(current_app.config["LOGIN_MAX_FAILURES"], current_app.config["LOGIN_LOCKOUT"])


def session_lifetime() -> timedelta:
    """Return how long a session lives from its sign-in, refreshed or not."""
    return current_app.config["SESSION_LIFETIME"]


def commit() -> None:
    """Commit the request's unit of work (services only flush; models.transactions says who commits)."""
    commit_unit()
