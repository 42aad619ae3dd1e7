"""A reference for the floor: its two promises on the same stack, and nothing else.

The floor (GET /me/checkins?page_size=1) checks the token and reads its
session from the database, reads the page, and commits an audit row before
the answer. This app does exactly that with the libraries Waypoint is built
on (Flask, flask-jwt-extended, SQLAlchemy Core, SQLite in WAL mode with
synchronous=FULL; or PostgreSQL) and none of Waypoint's other work: no
hooks, no flask-smorest, webargs or marshmallow, no session of the ORM,
three hand-written statements on a pooled connection, each committed on
its own. What it costs is what the stack charges for the promises; the
floor's cost above it is Waypoint's own.
`bash bench/callgrind.sh DB JSON promises 300` counts it (kind
promises-stock with flask-jwt-extended's own manager, which reads every
token three times; promises with Waypoint's, which verifies a token once).

It answers the floor's request with the floor's body; it refuses a dead
session but is not a product: no problem+json, no audit detail. It runs on
SQLite and on PostgreSQL; `python -m bench` serves it under the same
gunicorn.conf.py as the bare app (APP) and prints its row beside the floor's.
"""
import json
import os
from datetime import datetime, timezone

from flask import Flask, jsonify, request
from flask_jwt_extended import JWTManager, get_jwt, jwt_required
from sqlalchemy import create_engine, event, text

from api.database import sqlite_pragmas
from api.extensions import WaypointJWTManager

_SESSION = text(
    "SELECT auth_sessions.revoked_at, users.role, users.organization_id, users.is_active "
    "FROM auth_sessions JOIN users ON auth_sessions.user_id = users.id "
    "LEFT OUTER JOIN patient_profiles ON patient_profiles.user_id = users.id "
    "WHERE auth_sessions.id = :session_id AND auth_sessions.user_id = :user_id")
_PAGE = text(
    "SELECT checkins.*, (SELECT count(*) FROM checkins WHERE patient_id = :patient_id) AS total "
    "FROM checkins WHERE patient_id = :patient_id ORDER BY day DESC LIMIT :limit OFFSET 0")
_AUDIT = text(
    "INSERT INTO audit_events (occurred_at, organization_id, actor_id, actor_role, action, resource, patient_id, "
    "outcome, status_code, client_address, detail) VALUES (:occurred_at, :organization_id, :user_id, :role, 'read', "
    "'checkins.MyCheckins', :user_id, 'allowed', 200, :client_address, '{}')")
# What gunicorn is given to serve it (DATABASE_URL and JWT_SECRET_KEY from the environment, as Waypoint reads them).
APP = "bench.promises:served()"
_SHOWN = ("id", "day", "craving", "mood", "sleep_hours", "used_substance", "note", "version")


def create_app(database_url: str, jwt_secret: str, *, waypoint_tokens: bool = True) -> Flask:
    """Return the reference app on a bench clinic's database (waypoint_tokens: Waypoint's token manager)."""
    app = Flask(__name__)
    app.config["JWT_SECRET_KEY"] = jwt_secret
    (WaypointJWTManager if waypoint_tokens else JWTManager)(app)
    # Each statement its own transaction, as the floor runs them: the reads take no
    # BEGIN and COMMIT (on PostgreSQL two round trips more) and the audit row commits itself.
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    on_sqlite = engine.dialect.name == "sqlite"
    if on_sqlite:
        event.listen(engine, "connect", sqlite_pragmas)  # Waypoint's own: WAL, synchronous=FULL, foreign keys

    @app.get("/healthz")
    def healthz():  # for the harness's start-up probe
        return {"status": "ok"}

    @app.get("/api/v1/me/checkins")
    @jwt_required()
    def checkins():
        claims = get_jwt()
        user_id = int(claims["sub"])
        page_size = int(request.args.get("page_size", 50))
        with engine.connect() as connection:
            holder = connection.execute(_SESSION, {"session_id": claims["sid"], "user_id": user_id}).first()
            if holder is None or holder.revoked_at is not None or not holder.is_active:
                return {"title": "Unauthorized"}, 401
            rows = connection.execute(_PAGE, {"patient_id": user_id, "limit": page_size}).all()
            now = datetime.now(timezone.utc)
            connection.execute(_AUDIT, {
                "occurred_at": now.isoformat(" ") if on_sqlite else now, "organization_id": holder.organization_id,
                "user_id": user_id, "role": holder.role, "client_address": request.remote_addr})
        # SQLite hands the JSON column over as text, PostgreSQL's driver as a list.
        items = [{**{name: row._mapping[name] for name in _SHOWN},
                  "coping_skills": json.loads(row.coping_skills or "[]") if on_sqlite else row.coping_skills or []}
                 for row in rows]
        return jsonify({"items": items, "total": rows[0].total if rows else 0, "page": 1, "page_size": page_size})

    return app


def served() -> Flask:
    """Return the reference app on the database and secret of the environment (what gunicorn serves)."""
    return create_app(os.environ["DATABASE_URL"], os.environ["JWT_SECRET_KEY"])
