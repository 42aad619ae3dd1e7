"""Configuration read from the environment."""
import logging
import os
from datetime import timedelta
from pathlib import Path

from .logs import log_format

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"
DEFAULT_JWT_SECRET = "dev-only-secret-change-me-please-0123456789"
MIN_SECRET_LENGTH = 32
# A stolen access token is good until it expires; past this, revocation
# (which only the session and tokens-valid-after checks give) matters too much.
MAX_ACCESS_TOKEN_MINUTES = 15


class Config:
    """Settings with safe defaults for a laptop; production must override secrets."""

    ENV_NAME = os.environ.get("WAYPOINT_ENV", "development")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'waypoint.db'}"
    )
    # hide_parameters: a database error's message would otherwise quote the
    # statement's values (a note, an e-mail) into whatever logs it.
    # pool_timeout: a request that finds every pooled connection taken waits
    # this long for one, then answers 503 (SQLAlchemy's default is 30 s).
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True, "pool_timeout": 5}
    # How long anything waits on PostgreSQL (api/database_waits.py), so that
    # a database that stops answering gives a 503 within seconds. libpq's
    # parameters below are defaults: DATABASE_URL's query string wins.
    DATABASE_LIBPQ_DEFAULTS = {
        "connect_timeout": "3",
        # A dead peer is noticed on an idle connection after 5 + 2 x 2 s, and
        # sent bytes unacknowledged for 5 s end the connection.
        "keepalives": "1", "keepalives_idle": "5", "keepalives_interval": "2", "keepalives_count": "2",
        "tcp_user_timeout": "5000",
    }
    # A pooled connection's check before use: one trivial round trip.
    DATABASE_PING_TIMEOUT = float(os.environ.get("DATABASE_PING_TIMEOUT", "2"))
    # The longest statement a request may run (the server's statement_timeout;
    # 0 turns it and the client's deadline off). Jobs and the CLI are not bound.
    DATABASE_STATEMENT_TIMEOUT = float(os.environ.get("DATABASE_STATEMENT_TIMEOUT", "5"))
    JWT_SECRET_KEY = os.environ.get("JWT_SECRET_KEY", DEFAULT_JWT_SECRET)
    JWT_ALGORITHM = "HS256"
    JWT_DECODE_ALGORITHMS = ["HS256"]
    JWT_ACCESS_TOKEN_EXPIRES = timedelta(minutes=int(os.environ.get("ACCESS_TOKEN_MINUTES", "15")))
    JWT_REFRESH_TOKEN_EXPIRES = timedelta(days=int(os.environ.get("REFRESH_TOKEN_DAYS", "30")))
    JWT_TOKEN_LOCATION = ["headers"]

    # Login throttling (Flask-Limiter). Redis when REDIS_URL is set, so every
    # worker counts together; otherwise each process counts on its own.
    RATELIMIT_STORAGE_URI = os.environ.get("REDIS_URL") or "memory://"
    RATELIMIT_KEY_PREFIX = "waypoint"
    RATELIMIT_STRATEGY = "moving-window"
    RATELIMIT_HEADERS_ENABLED = True
    # Redis down: count in-process rather than refuse every login.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    LOGIN_LIMITS_PER_ACCOUNT = "5/minute;20/hour"
    LOGIN_LIMITS_PER_ADDRESS = "30/minute"
    PASSWORD_CHANGE_LIMITS = "5/minute;20/hour"
    # A reset link by e-mail: per address, so no one can flood a person's mailbox; per client, so no one
    # can walk a list of addresses (both count whether or not an account exists); using a link per
    # client, as setting a password hashes it (argon2) and no client may make the server do that at will.
    PASSWORD_RESET_LIMITS_PER_ACCOUNT = "5/hour;10/day"
    PASSWORD_RESET_LIMITS_PER_ADDRESS = "20/hour"
    PASSWORD_RESET_CONFIRM_LIMITS = "10/minute;50/hour"
    # Consecutive failures that lock an account, and for how long.
    LOGIN_MAX_FAILURES = 10
    LOGIN_LOCKOUT = timedelta(minutes=15)
    # A device that signed in passes its address's lockout for this long
    # after its last sign-in (services.lockout).
    LOGIN_DEVICE_TRUST = timedelta(days=int(os.environ.get("LOGIN_DEVICE_TRUST_DAYS", "180")))
    # A session ends this long after its sign-in, however often refreshed.
    SESSION_LIFETIME = timedelta(days=int(os.environ.get("SESSION_LIFETIME_DAYS", "30")))
    # Check-ins are small; a body this large is a bug or an attack.
    MAX_CONTENT_LENGTH = 256 * 1024
    # Reverse proxies in front of the app whose X-Forwarded-For is believed
    # (for the audit log's client address and per-address login limits).
    TRUSTED_PROXY_HOPS = int(os.environ.get("TRUSTED_PROXY_HOPS", "0"))
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    # Recompute every kept caseload row on each view and fail loudly where it
    # differs (services.caseload): the test suite's guard against a stale row.
    CASELOAD_CHECK_KEPT_FIGURES = False
    # "json" (one object a line) or "text"; json by default in production.
    LOG_FORMAT = log_format(os.environ)

    API_TITLE = "Waypoint"
    API_VERSION = "1.0.0"
    OPENAPI_VERSION = "3.1.0"
    OPENAPI_URL_PREFIX = "/api/docs"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_REDOC_PATH = "/"
    # The vendored bundle (api/static/redoc): the page works with no network beyond this server.
    OPENAPI_REDOC_URL = "/static/redoc/redoc.standalone.js"
    API_SPEC_OPTIONS = {
        "info": {
            "description": "Daily check-ins, trends and care-team views for outpatient addiction treatment.",
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "servers": [{"url": "/"}],
    }


def check_production_settings(config) -> None:
    """Refuse to start in production with a default or weak secret, or long-lived access tokens."""
    if config.get("ENV_NAME") != "production":
        return
    secret = config.get("JWT_SECRET_KEY") or ""
    if secret == DEFAULT_JWT_SECRET or len(secret) < MIN_SECRET_LENGTH:
        raise RuntimeError(
            f"JWT_SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} "
            "characters in production (WAYPOINT_ENV=production)."
        )
    if config["JWT_ACCESS_TOKEN_EXPIRES"] > timedelta(minutes=MAX_ACCESS_TOKEN_MINUTES):
        raise RuntimeError(f"Access tokens may live at most {MAX_ACCESS_TOKEN_MINUTES} minutes "
                           "(ACCESS_TOKEN_MINUTES) in production.")
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") and not os.environ.get("DATABASE_URL"):
        raise RuntimeError("Set DATABASE_URL in production; the default SQLite file is for development.")
    if config.get("RATELIMIT_STORAGE_URI", "memory://").startswith("memory"):
        # One process may rightly run without Redis; several would each allow
        # the whole login limit. Say so, without refusing to start.
        logging.getLogger("waypoint.config").warning(
            "REDIS_URL is not set: each API process counts login attempts on its own.")
