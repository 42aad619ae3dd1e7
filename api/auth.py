"""JWT wiring: who the caller is, and tokens that die with their session."""
from datetime import timedelta
from typing import cast

from flask import current_app, request
from flask_jwt_extended import create_access_token, create_refresh_token, get_jti, get_jwt
from flask_jwt_extended.exceptions import UserLookupError
from werkzeug.local import LocalProxy

from models import User
from models.transactions import commit_unit
from services.lockout import LockoutPolicy
from services.sessions import (
    TokenHolder,
    holder_of,
    load_caller,
    new_session_id,
    token_holder,
    token_holder_user,
)

from .errors import problem_response
from .extensions import jwt

__all__ = ["bearer", "caller", "commit", "current_user", "issue_tokens", "lockout_policy", "session_lifetime",
           "token_holder_of_request"]

# The OpenAPI security requirement for a bearer-protected operation.
bearer: list[dict[str, list[str]]] = [{"bearerAuth": []}]
_TOKEN_HOLDER = "waypoint.token_holder"
_CALLER = "waypoint.caller"
_WHO_ONLY = "waypoint.who_only"


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


@jwt.token_in_blocklist_loader
def _token_revoked(header, payload) -> bool:
    # Dead when its session ended, or when it predates the user's
    # tokens_valid_after (password change, logout everywhere, disabling).
    try:
        user_id = int(payload["sub"])
    except (KeyError, TypeError, ValueError):
        return True
    issued_at = payload.get("iat")
    if not isinstance(issued_at, int):
        issued_at = None
    environ = request.environ
    if environ.get(_WHO_ONLY):
        holder = token_holder(user_id, payload.get("sid"), issued_at)
    else:
        # Most views read the user next: built in the statement that checks the token.
        user = environ[_CALLER] = token_holder_user(user_id, payload.get("sid"), issued_at)
        holder = None if user is None else holder_of(user)
    if holder is None:
        return True
    if not holder.is_active:
        # What the user lookup answered when it ran on every request: the
        # same 401 (user_lookup_error_loader), now without building the user.
        raise UserLookupError("The account is unknown or disabled.", header, payload)
    # Kept in the request (its environ: tests keep one app context, and so
    # one g, across many requests) for caller() and token_holder_of_request().
    environ[_TOKEN_HOLDER] = holder
    return False


def note_who_only() -> None:
    """Say that this request's view reads only who the caller is (token_holder_of_request): the user is not built."""
    request.environ[_WHO_ONLY] = True


def token_holder_of_request() -> TokenHolder:
    """Return who this request's verified token speaks for (no user built: one dict lookup).

    Raises RuntimeError outside a route that verified a token, as
    flask_jwt_extended's get_jwt() does.
    """
    get_jwt()
    holder = request.environ.get(_TOKEN_HOLDER)
    if holder is None:
        raise RuntimeError("No verified token in this request.")
    return cast(TokenHolder, holder)


def caller() -> User:
    """Return the signed-in user, with profile and organization, built the first time a request asks.

    A view that needs only who the caller is reads token_holder_of_request()
    and never builds it. None where a token was optional and absent.
    """
    get_jwt()  # outside a route that verified a token: RuntimeError, as flask_jwt_extended's current_user
    environ = request.environ
    holder = environ.get(_TOKEN_HOLDER)
    if holder is None:
        return None  # type: ignore[return-value]  # only where the token was optional
    user = environ.get(_CALLER)
    if user is None:
        user = environ[_CALLER] = load_caller(holder.user_id)
    return cast(User, user)


# The signed-in user, for views: flask_jwt_extended's current_user needs
# a user lookup, built before every view, even one that reads only who the
# caller is.
current_user = cast(User, LocalProxy(caller))


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
