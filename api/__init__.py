"""The Waypoint HTTP API: `flask --app api ...` finds create_app here."""
from pathlib import Path
from types import FunctionType

from flask import Flask

from models import db
from services.outbox import sender_for
from web import register_web

from .audit import register_audit
from .browser_session import register_browser_session
from .cli import register_cli
from .config import Config, check_production_settings
from .database import configure_database
from .database_waits import bound_database_waits
from .errors import register_error_handlers
from .extensions import api, document_items_schemas, jwt, migrate
from .postgres_reads import read_without_transactions
from .request_log import configure_logging
from .requests import DayConverter, RecordIdConverter, configure_requests
from .resources import RESOURCES
from .security import register_security

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application; test_config overrides settings from the environment."""
    app = Flask(__name__, instance_relative_config=False)
    _ask_once_if_async(app)
    app.config.from_object(Config)
    if test_config:
        app.config.update(test_config)
    check_production_settings(app.config)
    # Before the other hooks: its after_request hook then runs last.
    configure_logging(app)

    db.init_app(app)
    configure_database(app)
    bound_database_waits(app)
    read_without_transactions(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    jwt.init_app(app)
    app.url_map.converters["day"] = DayConverter
    app.url_map.converters["id"] = RecordIdConverter
    configure_requests(app)
    api.init_app(app)
    api.register_converter(DayConverter, lambda _converter: {"type": "string", "format": "date"})
    api.register_converter(RecordIdConverter, lambda converter: {
        "type": "integer", "minimum": 0, "maximum": converter.max})
    document_items_schemas(api)
    for resource in RESOURCES:
        api.register_blueprint(resource)
    register_browser_session(app)
    register_web(app)
    register_error_handlers(app)
    register_audit(app)
    register_security(app)
    _start_outbox_sender(app)
    register_cli(app)
    return app


def _ask_once_if_async(app: Flask) -> None:
    """Ask once per function, not on every call, whether a hook or a view is a coroutine.

    Flask asks inspect.iscoroutinefunction of each hook and view on every
    request (a dozen for the floor, 3 % of it); none of ours is one, and a
    function cannot turn into one. Only plain functions are remembered: a
    method is bound anew on each request and would only fill the set.
    """
    plain: set[FunctionType] = set()
    ensure_sync = app.ensure_sync

    def ensure_sync_once(func):
        if func in plain:
            return func
        sync = ensure_sync(func)
        if sync is func and type(func) is FunctionType:
            plain.add(func)
        return sync

    app.ensure_sync = ensure_sync_once  # type: ignore[method-assign]


def _start_outbox_sender(app: Flask) -> None:
    """Start this process's mail sender (services.outbox) with its first request; tests start their own."""
    if app.testing or not app.config.get("OUTBOX_SENDER", True):
        return
    started = False

    @app.before_request
    def _outbox_sender() -> None:
        nonlocal started
        if not started:
            sender_for(app)
            started = True
