"""References for the floor, P1 and P2: each request's promises on the same stack, and nothing else.

The floor (GET /me/checkins?page_size=1) checks the token and reads its
session from the database, reads the page, and commits an audit row before
the answer. This app does exactly that with the libraries Waypoint is built
on (Flask, flask-jwt-extended, SQLAlchemy Core, SQLite in WAL mode with
synchronous=FULL; or PostgreSQL) and none of Waypoint's other work: no
hooks, no flask-smorest, webargs or marshmallow, no session of the ORM,
three hand-written statements on a pooled connection, each committed on
its own (on SQLite, a write after Waypoint's writer turn, api.writer_turn,
as Waypoint's writes: without it the workers met on SQLite's busy handler
and its sleeps). What it costs is what the stack charges for the promises; the
floor's cost above it is Waypoint's own.

P1 and P2 get the same treatment, each with what its own request promises:
- PUT /me/checkins/{day} (P1): the session checked, then in one durable
  commit the day written with its next version, that version kept as a
  revision, and the audit row (on PostgreSQL one statement, one round
  trip); no validation, no If-Match, no alert rules.
- GET /caseload (P2): the session checked, the clinician's first 50
  patients by risk read with their kept figures in one SELECT and spliced
  into the page as Waypoint writes it, and the audit row naming them; no
  ranking in Python, no stale rows recomputed.
The database's own triggers (a written day marks the patient's caseload
row stale) fire for these writes as for Waypoint's.
`bash bench/callgrind.sh DB JSON promises 300` counts the floor's (kind
promises-stock with flask-jwt-extended's own manager, which reads every
token three times; promises with Waypoint's, which verifies a token once),
and kinds promises-p1 and promises-p2 count P1's and P2's.

Each answers with its request's body; it refuses a dead session but is
not a product: no problem+json, little audit detail. It runs on
SQLite and on PostgreSQL; `python -m bench` serves it under the same
gunicorn.conf.py as the bare app (APP) and prints its row beside the floor's.
"""
import json
import os
from contextlib import nullcontext
from datetime import datetime, timezone

from flask import Flask, Response, jsonify, request
from flask_jwt_extended import JWTManager, get_jwt, jwt_required
from sqlalchemy import Connection, Row, create_engine, event, text

from api.database import sqlite_pragmas
from api.extensions import WaypointJWTManager
from api.writer_turn import writer_turn

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
_CONTENT = ("craving", "mood", "sleep_hours", "sleep_quality", "used_substance", "substances", "coping_skills",
            "custom_coping_skills", "triggers", "medication_taken", "self_harm_thoughts", "note")
_LISTS = ("substances", "coping_skills", "custom_coping_skills", "triggers")
_UPSERT = (
    "INSERT INTO checkins (patient_id, day, craving, mood, sleep_hours, sleep_quality, used_substance, substances, "
    "coping_skills, custom_coping_skills, triggers, medication_taken, self_harm_thoughts, note, late, version, "
    "created_at, updated_at) VALUES (:patient_id, :day, :craving, :mood, :sleep_hours, :sleep_quality, "
    ":used_substance, :substances, :coping_skills, :custom_coping_skills, :triggers, :medication_taken, "
    ":self_harm_thoughts, :note, false, 1, :now, :now) "
    "ON CONFLICT (patient_id, day) DO UPDATE SET craving = excluded.craving, mood = excluded.mood, "
    "sleep_hours = excluded.sleep_hours, sleep_quality = excluded.sleep_quality, "
    "used_substance = excluded.used_substance, substances = excluded.substances, "
    "coping_skills = excluded.coping_skills, custom_coping_skills = excluded.custom_coping_skills, "
    "triggers = excluded.triggers, medication_taken = excluded.medication_taken, "
    "self_harm_thoughts = excluded.self_harm_thoughts, note = excluded.note, version = checkins.version + 1, "
    "updated_at = excluded.updated_at RETURNING id, version, created_at")
_REVISION = (
    "INSERT INTO checkin_revisions (checkin_id, version, content, recorded_at, recorded_by_id) "
    "SELECT id, version, CAST(:content AS JSON), :now, :user_id FROM written")
_WRITTEN = (
    "INSERT INTO audit_events (occurred_at, organization_id, actor_id, actor_role, action, resource, patient_id, "
    "outcome, status_code, client_address, detail) SELECT :now, :organization_id, :user_id, :role, 'write', "
    "'checkins.MyCheckinDay', :user_id, 'allowed', CASE WHEN version = 1 THEN 201 ELSE 200 END, :client_address, "
    "'{}' FROM written")
# The day, its revision and its audit row land together, in as few statements as
# each database allows: on SQLite three (no round trips) between BEGIN IMMEDIATE and
# COMMIT; on PostgreSQL one, which commits itself as it returns. Constants joined.
_WRITES = {
    "sqlite": (text(_UPSERT),
               text("WITH written AS (SELECT :checkin_id AS id, :version AS version) " + _REVISION),
               text("WITH written AS (SELECT :version AS version) " + _WRITTEN)),
    "postgresql": (text(f"WITH written AS ({_UPSERT}), revision AS ({_REVISION}), audited AS ({_WRITTEN}) "  # noqa: S608
                        "SELECT id, version, created_at FROM written"),),
}
# From the clinician's care team, each patient looked up by id, as Waypoint's caseload does: the
# organization is checked on the patient found (unary "+": not through its index, which the
# planner chose on statistics older than the clinic, walking the whole organization).
_CASELOAD = text(
    "SELECT users.id, users.display_name, patient_profiles.level_of_care, programs.id AS program_id, "
    "programs.name AS program_name, caseload_rows.figures "
    "FROM care_team_members JOIN patient_profiles ON patient_profiles.user_id = care_team_members.patient_id "
    "JOIN users ON users.id = patient_profiles.user_id "
    "LEFT OUTER JOIN programs ON programs.id = patient_profiles.program_id "
    "JOIN caseload_rows ON caseload_rows.patient_id = patient_profiles.user_id "
    "WHERE care_team_members.clinician_id = :clinician_id AND +users.organization_id = :organization_id "
    "AND users.is_active AND caseload_rows.figures IS NOT NULL "
    "ORDER BY caseload_rows.risk_rank DESC, caseload_rows.risk_reasons DESC, "
    "caseload_rows.last_checkin IS NOT NULL, caseload_rows.last_checkin, users.id LIMIT 50")
_LISTED = text(
    "INSERT INTO audit_events (occurred_at, organization_id, actor_id, actor_role, action, resource, patient_id, "
    "outcome, status_code, client_address, detail) VALUES (:occurred_at, :organization_id, :user_id, :role, 'read', "
    "'dashboards.Caseload', NULL, 'allowed', 200, :client_address, :detail)")
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
    app.extensions["bench.promises.engine"] = engine  # for whoever ends the app early (the tests)
    on_sqlite = engine.dialect.name == "sqlite"
    # SQLite's writers queue on Waypoint's turn (api.writer_turn), as Waypoint's do: without it
    # the two workers met on SQLite's busy handler, whose sleeps left most of a core idle.
    turn = writer_turn(engine).holding if on_sqlite else nullcontext
    if on_sqlite:
        event.listen(engine, "connect", sqlite_pragmas)  # Waypoint's own: WAL, synchronous=FULL, foreign keys

    @app.get("/healthz")
    def healthz():  # for the harness's start-up probe
        return {"status": "ok"}

    @app.get("/api/v1/me/checkins")
    @jwt_required()
    def checkins():
        page_size = int(request.args.get("page_size", 50))
        with engine.connect() as connection:
            user_id, holder = _token_holder(connection)
            if holder is None:
                return {"title": "Unauthorized"}, 401
            rows = connection.execute(_PAGE, {"patient_id": user_id, "limit": page_size}).all()
            now = datetime.now(timezone.utc)
            with turn():
                connection.execute(_AUDIT, {
                    "occurred_at": now.isoformat(" ") if on_sqlite else now,
                    "organization_id": holder.organization_id, "user_id": user_id, "role": holder.role,
                    "client_address": request.remote_addr})
        # SQLite hands the JSON column over as text, PostgreSQL's driver as a list.
        items = [{**{name: row._mapping[name] for name in _SHOWN},
                  "coping_skills": json.loads(row.coping_skills or "[]") if on_sqlite else row.coping_skills or []}
                 for row in rows]
        return jsonify({"items": items, "total": rows[0].total if rows else 0, "page": 1, "page_size": page_size})

    @app.put("/api/v1/me/checkins/<day>")
    @jwt_required()
    def checkin(day: str):
        content = request.get_json()
        values = {name: content.get(name) for name in _CONTENT}
        for name in _LISTS:  # JSON columns: SQLite keeps text, PostgreSQL casts the text it is sent
            values[name] = json.dumps(content.get(name) or [])
        now = datetime.now(timezone.utc)
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f") if on_sqlite else now
        with engine.connect() as connection:
            user_id, holder = _token_holder(connection)
            if holder is None:
                return {"title": "Unauthorized"}, 401
            arguments = {**values, "patient_id": user_id, "day": day, "now": stamp, "user_id": user_id,
                         "content": json.dumps({name: content.get(name) for name in _CONTENT}),
                         "organization_id": holder.organization_id, "role": holder.role,
                         "client_address": request.remote_addr}
            if on_sqlite:
                with turn():
                    written = _in_one_transaction(connection, arguments)
            else:
                written = connection.execute(_WRITES["postgresql"][0], arguments).one()
        status = 201 if written.version == 1 else 200
        created = written.created_at if on_sqlite else written.created_at.isoformat()
        return jsonify({**content, "date": day, "patient_id": user_id, "version": written.version,
                        "created_at": created, "updated_at": now.isoformat()}), status

    @app.get("/api/v1/caseload")
    @jwt_required()
    def caseload():
        with engine.connect() as connection:
            user_id, holder = _token_holder(connection)
            if holder is None:
                return {"title": "Unauthorized"}, 401
            rows = connection.execute(
                _CASELOAD, {"clinician_id": user_id, "organization_id": holder.organization_id}).all()
            now = datetime.now(timezone.utc)
            listed = [row.id for row in rows]
            with turn():
                connection.execute(_LISTED, {
                    "occurred_at": now.isoformat(" ") if on_sqlite else now,
                    "organization_id": holder.organization_id, "user_id": user_id, "role": holder.role,
                    "client_address": request.remote_addr,
                    "detail": json.dumps({"method": "GET", "count": len(listed), "patient_ids": listed})})
        # The page as Waypoint writes it: each row's live part, then its kept figures as they are stored.
        parts = ['{"items":[']
        for row in rows:
            program = "null" if row.program_id is None else json.dumps({"id": row.program_id, "name": row.program_name})
            parts += (f'{{"patient": {json.dumps({"id": row.id, "display_name": row.display_name})}, '
                      f'"level_of_care": {json.dumps(row.level_of_care)}, "program": {program},',
                      row.figures[1:], ",")
        if rows:
            parts.pop()
        parts.append(f'],"total":{len(rows)},"page":1,"page_size":50}}')
        return Response("".join(parts), mimetype="application/json")

    return app


def _token_holder(connection: Connection) -> tuple[int, Row | None]:
    """Return the verified token's user id and its session's holder, None if the session is dead."""
    claims = get_jwt()
    user_id = int(claims["sub"])
    holder = connection.execute(_SESSION, {"session_id": claims["sid"], "user_id": user_id}).first()
    if holder is None or holder.revoked_at is not None or not holder.is_active:
        return user_id, None
    return user_id, holder


def _in_one_transaction(connection: Connection, arguments: dict) -> Row:
    """Write the day, its revision and its audit row on SQLite, with the write lock taken at once."""
    upsert, revision, audited = _WRITES["sqlite"]
    connection.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        written = connection.execute(upsert, arguments).one()
        connection.execute(revision, {**arguments, "checkin_id": written.id, "version": written.version})
        connection.execute(audited, {**arguments, "version": written.version})
    except BaseException:
        connection.exec_driver_sql("ROLLBACK")
        raise
    connection.exec_driver_sql("COMMIT")
    return written


def served() -> Flask:
    """Return the reference app on the database and secret of the environment (what gunicorn serves)."""
    return create_app(os.environ["DATABASE_URL"], os.environ["JWT_SECRET_KEY"])
