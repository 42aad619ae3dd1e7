"""Login throttling (Flask-Limiter) and the security headers every response carries."""
import hashlib
import hmac
from functools import partial

from flask import Flask, Response, current_app, request
from flask.globals import request_ctx
from flask_jwt_extended import get_jwt_identity
from flask_limiter import Limiter

from models import utcnow
from services.lockout import device_in_token

from .errors import RETRY_AFTER
from .requests import client_address, current_request

TOO_MANY = "Too many attempts; wait a while before trying again."


# The browser's trusted-device token: an HttpOnly cookie sent only to the web sign-in (api/browser_session.py).
DEVICE_COOKIE = "waypoint_device"


def client_address_key() -> str:
    """Rate-limit key of the caller's address (X-Forwarded-For only behind trusted proxies)."""
    return f"address:{client_address() or 'unknown'}"


def account_key() -> str:
    """Rate-limit key of the e-mail a login names, or of the trusted device it comes from.

    Keyed by a keyed hash, not the address itself: that someone has an
    account here says they are in treatment, and Redis keys are not a place
    for that. A device that signed in to the address before counts on its
    own, so guesses at the address cannot throttle its owner.
    """
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    email = body.get("email")
    email = email.strip().lower() if isinstance(email, str) else ""
    token = body.get("device_token")
    if not isinstance(token, str):
        token = request.cookies.get(DEVICE_COOKIE)  # a browser keeps it in a cookie (api/browser_session.py)
    config = current_app.config
    if isinstance(token, str) and (device := device_in_token(
            token, email, config["JWT_SECRET_KEY"], utcnow(), config["LOGIN_DEVICE_TRUST"])):
        return f"device:{device}"
    return f"account:{_pseudonym(email)}"


def user_key() -> str:
    """Rate-limit key of the signed-in caller."""
    return f"user:{get_jwt_identity()}"


def _pseudonym(value: str) -> str:
    secret = current_app.config["JWT_SECRET_KEY"].encode()
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:32]


def _config_limit(name: str):
    return lambda: current_app.config[name]


limiter = Limiter(key_func=client_address_key)

# Each attempt counts, successful or not: a limit that counts only failures
# is checked before the failure is known, so parallel guesses slip through.
login_limits = [
    limiter.limit(_config_limit("LOGIN_LIMITS_PER_ACCOUNT"), key_func=account_key,
                  scope="login-account", error_message=TOO_MANY),
    limiter.limit(_config_limit("LOGIN_LIMITS_PER_ADDRESS"), key_func=client_address_key,
                  scope="login-address", error_message=TOO_MANY),
]
password_change_limits = [
    limiter.limit(_config_limit("PASSWORD_CHANGE_LIMITS"), key_func=user_key,
                  scope="password-change", error_message=TOO_MANY),
]
password_reset_limits = [
    limiter.limit(_config_limit("PASSWORD_RESET_LIMITS_PER_ACCOUNT"), key_func=account_key,
                  scope="password-reset-account", error_message=TOO_MANY),
    limiter.limit(_config_limit("PASSWORD_RESET_LIMITS_PER_ADDRESS"), key_func=client_address_key,
                  scope="password-reset-address", error_message=TOO_MANY),
]
password_reset_confirm_limits = [
    limiter.limit(_config_limit("PASSWORD_RESET_CONFIRM_LIMITS"), key_func=client_address_key,
                  scope="password-reset-confirm", error_message=TOO_MANY),
]


def throttled(limits):
    """Apply a list of limits to a view function (innermost, after the token check)."""
    def decorate(view):
        for limit in reversed(limits):
            view = limit(view)
        return view
    return decorate


# --- security headers ------------------------------------------------------------

# A JSON API renders nothing, runs nothing and is framed by no one.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=63072000; includeSubDomains"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"


# The headers every answer carries, whatever set them before: (name, its lower case, value).
_ALWAYS = tuple((name, name.lower(), value) for name, value in (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", PERMISSIONS_POLICY),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    # Patient data must not sit in a browser's or a proxy's cache.
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
))


def add_security_headers(response: Response) -> Response:
    """Set the security headers; they go on errors and the docs page too.

    One look at the headers already there, then appends: setting each by
    name scanned the whole list for every header, and a pop of an absent
    header raised and caught an exception (together 5 % of the floor).
    """
    headers = response.headers
    present = {name.lower() for name, _value in headers.items()}
    for name, lowered, value in _ALWAYS:
        if lowered in present:  # rare: a page's own Cache-Control
            headers[name] = value
        else:
            headers.add(name, value)
    # A page served for a person (the web app, the docs, the unsubscribe and
    # password-reset pages) sets its own policy, which must let its form and
    # script work; every other answer gets the one that allows nothing.
    if "content-security-policy" not in present:
        headers.add("Content-Security-Policy", API_CSP)
    current = current_request()
    environ = current.environ
    if current.is_secure or current_app.config.get("ENV_NAME") == "production":
        headers["Strict-Transport-Security"] = HSTS
    # Flask-Limiter sends Retry-After with every answer of a limited route
    # (its own window); it means "wait" only on a 429, or where an error
    # handler set its own (a database outage's 503).
    if environ.get(RETRY_AFTER):
        headers["Retry-After"] = environ[RETRY_AFTER]
    elif response.status_code != 429 and "retry-after" in present:
        del headers["Retry-After"]
    # The WSGI server may add its own Server header; ours says nothing.
    if "server" in present:
        del headers["Server"]
    return response


def register_security(app: Flask) -> None:
    """Bind the limiter and the security headers to app."""
    # after_request hooks run last-registered first: the headers go on after
    # Flask-Limiter's, so they can correct them.
    app.after_request(add_security_headers)
    # Flask-Limiter keeps the first app's key prefix for good; each app (each
    # test's) must count under its own.
    limiter._key_prefix = app.config.get("RATELIMIT_KEY_PREFIX", "")
    limiter.init_app(app)
    _hooks_only_where_limited(app)


def _hooks_only_where_limited(app: Flask) -> None:
    """Run Flask-Limiter's request hooks only on requests a limit was checked on.

    Its limits are on the login and password routes only, checked by their
    decorators (throttled) inside the view; the hooks it adds to every
    request look for default limits (none are configured) and add the
    X-RateLimit headers of a limit the decorator checked. They cost about
    0.1 ms a request, /healthz's and every patient-data request's included.
    With no default or application limits, before_request has nothing to
    do; the after_request and teardown hooks run where a decorator left its
    context on the request.
    """
    manager = limiter.limit_manager
    if manager.default_limits or manager.application_limits:
        return  # limits on every route: every request needs the hooks
    before = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in before:
        before.remove(limiter._check_request_limit)
    after = app.after_request_funcs.get(None, [])
    for position, hook in enumerate(after):
        if isinstance(hook, partial) and hook.args[:1] == (limiter,):
            after[position] = _when_limit_checked(hook, lambda response: response)
    teardown = app.teardown_request_funcs.get(None, [])
    for position, hook in enumerate(teardown):
        if getattr(hook, "__self__", None) is limiter:
            teardown[position] = _when_limit_checked(hook, lambda _error: None)


def _when_limit_checked(hook, otherwise):
    """Wrap a hook of the limiter's so it runs only where a limit decorator left its context."""
    def hook_where_limited(argument):
        if hasattr(request_ctx, _LIMITER_CONTEXT):
            return hook(argument)
        return otherwise(argument)
    return hook_where_limited


# Where Flask-Limiter keeps a request's limits (flask_limiter.Limiter.context).
_LIMITER_CONTEXT = "_limiter_request_context"
