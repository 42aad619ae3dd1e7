"""The web pages' session: sign in, refresh and sign out without a token in page storage.

A sign-in here opens the same kind of session as POST /api/v1/auth/login
(same password check, throttling, lockout and session row), but answers with
the access token only; the page keeps it in memory. The refresh token goes
into an HttpOnly, SameSite=Strict cookie whose path is /web/session, so no
script can read it and no other request carries it. Refreshing needs the
double-submit CSRF value (the csrf_refresh_token cookie, readable by the
page, sent back as X-CSRF-TOKEN), which flask-jwt-extended checks against the
token's own csrf claim.

Idle sign-out: each refresh rotates the refresh token and its cookie lives
WEB_IDLE_TIMEOUT (15 minutes) from then; a session whose last sign-in or
refresh is older than that is ended here even if the cookie survived. The page refreshes only while its
user is active. Revocation is the API's: logout-everywhere, disabling and a
password change kill the session's tokens, so the page's next API call (or
refresh) answers 401 and the page returns to the sign-in form.
"""
from datetime import timedelta

from flask import Blueprint, Flask, current_app, jsonify, request
from flask_jwt_extended import (
    get_jwt,
    jwt_required,
    set_refresh_cookies,
    unset_jwt_cookies,
)

from models import utcnow
from services.errors import AuthenticationFailed, LoginPaused, SessionExpired
from services.lockout import device_in_token, device_token
from services.sessions import (
    RefreshReused,
    authenticate,
    end_session,
    last_active,
    rotate_refresh,
    start_session,
)

from .auth import commit, current_user, issue_tokens, lockout_policy, session_lifetime
from .errors import RETRY_AFTER, problem_response
from .security import DEVICE_COOKIE, login_limits, throttled

session_blp = Blueprint("web_session", __name__, url_prefix="/web/session")

SESSION_PATH = "/web/session"
WEB_IDLE_TIMEOUT = timedelta(minutes=15)


def register_browser_session(app: Flask) -> None:
    """Serve /web/session from app, and tell flask-jwt-extended where its refresh cookie lives.

    The API's own operations read tokens from headers only.
    """
    config = app.config
    config.setdefault("WEB_IDLE_TIMEOUT", WEB_IDLE_TIMEOUT)
    config["JWT_REFRESH_COOKIE_PATH"] = SESSION_PATH
    # The page reads this one to send it back; it is worthless without the HttpOnly cookie.
    config["JWT_REFRESH_CSRF_COOKIE_PATH"] = "/"
    config["JWT_COOKIE_SAMESITE"] = "Strict"
    config["JWT_COOKIE_CSRF_PROTECT"] = True
    config["JWT_COOKIE_SECURE"] = config.get("ENV_NAME") == "production"
    config["JWT_SESSION_COOKIE"] = False
    app.register_blueprint(session_blp)


@session_blp.post("")
@throttled(login_limits)
def sign_in():
    """Sign in with e-mail and password; the refresh token goes into the HttpOnly cookie."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or not isinstance(password, str) or not email.strip() or not password:
        raise AuthenticationFailed("Enter your e-mail address and password.")
    now = utcnow()
    config = current_app.config
    device_id = device_in_token(request.cookies.get(DEVICE_COOKIE), email.strip(), config["JWT_SECRET_KEY"],
                                now, config["LOGIN_DEVICE_TRUST"])
    try:
        signed_in = authenticate(email.strip(), password, now, lockout_policy(), device_id)
    except LoginPaused as paused:
        request.environ[RETRY_AFTER] = str(max(1, int((paused.until - now).total_seconds())))
        raise
    except AuthenticationFailed:
        commit()  # the failure count must stick
        raise
    tokens = issue_tokens(signed_in.user)
    start_session(signed_in.user, tokens["refresh_jti"], now, tokens["session_id"])
    commit()
    response = _access(tokens, signed_in.user)
    response.set_cookie(DEVICE_COOKIE, device_token(signed_in.device, config["JWT_SECRET_KEY"], now),
                        max_age=int(config["LOGIN_DEVICE_TRUST"].total_seconds()), path=SESSION_PATH,
                        secure=config["JWT_COOKIE_SECURE"], httponly=True, samesite="Strict")
    return response


@session_blp.post("/refresh")
@jwt_required(refresh=True, locations=["cookies"])
def refresh():
    """Trade the refresh cookie (with its CSRF value) for a new access token and cookie."""
    claims = get_jwt()
    now = utcnow()
    if now - last_active(claims["sid"]) > current_app.config["WEB_IDLE_TIMEOUT"]:
        end_session(claims["sid"], now)
        commit()
        return _signed_out(SessionExpired("Signed out after 15 minutes without activity; sign in again."))
    tokens = issue_tokens(current_user, claims["sid"])
    try:
        rotate_refresh(claims["sid"], claims["jti"], tokens["refresh_jti"], now, session_lifetime())
    except (RefreshReused, SessionExpired):
        commit()  # the end of the session must stick
        raise
    commit()
    return _access(tokens, current_user)


@session_blp.post("/sign-out")
@jwt_required(refresh=True, locations=["cookies"], optional=True)
def sign_out():
    """End the browser's session and forget its cookies."""
    claims = get_jwt()
    if claims.get("sid"):
        end_session(claims["sid"], utcnow())
        commit()
    response = jsonify({"signed_out": True})
    unset_jwt_cookies(response)
    return response


def _access(tokens: dict, user):
    response = jsonify({"access_token": tokens["access_token"], "expires_in": tokens["expires_in"],
                        "role": user.role.value, "display_name": user.display_name})
    set_refresh_cookies(response, tokens["refresh_token"],
                        max_age=int(current_app.config["WEB_IDLE_TIMEOUT"].total_seconds()))
    return response


def _signed_out(error: Exception):
    response = problem_response(401, "session-expired", "Session expired", str(error))
    unset_jwt_cookies(response)
    return response
