"""The Waypoint HTTP API: `flask --app api ...` finds create_app here."""
from flask import Flask

from models import db

from .audit import register_audit
from .config import Config, check_production_settings
from .database import configure_database
from .database_waits import bound_database_waits
from .errors import register_error_handlers
from .extensions import api, document_items_schemas, jwt, migrate
from .logs import configure_logging
from .requests import DayConverter, RecordIdConverter, configure_requests
from .security import register_security


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application; test_config overrides settings from the environment."""
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_object(Config)
    if test_config:
        app.config.update(test_config)
    check_production_settings(app.config)
    # Before the other hooks: its after_request hook then runs last.
    configure_logging(app)

    db.init_app(app)
    configure_database(app)
    bound_database_waits(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    jwt.init_app(app)
    app.url_map.converters["day"] = DayConverter
    app.url_map.converters["id"] = RecordIdConverter
    configure_requests(app)
    api.init_app(app)
    api.register_converter(DayConverter, lambda _converter: {"type": "string", "format": "date"})
    api.register_converter(RecordIdConverter, lambda converter: {
        "type": "integer", "minimum": 0, "maximum": converter.max})
    document_items_schemas(api)
    _register_blueprints()
    _register_pages(app)
    register_error_handlers(app)
    register_audit(app)
    register_security(app)
    _start_outbox_sender(app)

    from .cli import register_cli

    register_cli(app)
    return app


def _start_outbox_sender(app: Flask) -> None:
    """Start this process's mail sender (services.outbox) with its first request; tests start their own."""
    if app.testing or not app.config.get("OUTBOX_SENDER", True):
        return
    from services.outbox import sender_for

    started = False

    @app.before_request
    def _outbox_sender() -> None:
        nonlocal started
        if not started:
            sender_for(app)
            started = True


def _register_pages(app: Flask) -> None:
    """Serve the web pages (web/) from this app; imported here, as web imports api."""
    from web import register_web

    register_web(app)


def _register_blueprints() -> None:
    """Register the blueprint of every module in api/resources, in name order."""
    import importlib
    import pkgutil

    from . import resources

    for module_info in sorted(pkgutil.iter_modules(resources.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{resources.__name__}.{module_info.name}")
        api.register_blueprint(module.blp)


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"
