"""Liveness and readiness for load balancers."""
from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from models import db

from ..errors import DATABASE_RETRY_SECONDS, RETRY_AFTER, problem_response

blp = Blueprint("health", __name__, description="Health checks")


# Under gunicorn the worker answers /healthz itself, with this view's answer
# rendered once at boot (api/gunicorn_worker.py), so that a probe never waits
# behind request threads held by a silent database: keep it constant.
@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, description="The process is up")
    @blp.doc(operationId="check_liveness", security=[])
    def get(self):
        """Answer if the process is alive (no database touched)."""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200, description="The database answers")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    @blp.doc(operationId="check_readiness", security=[])
    def get(self):
        """Answer if the process can reach its database."""
        try:
            db.session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            db.session.rollback()
            # Kept past the security headers, which drop Flask-Limiter's Retry-After.
            request.environ[RETRY_AFTER] = DATABASE_RETRY_SECONDS
            return problem_response(503, "database-unavailable", "Service Unavailable",
                                    "The database is not reachable.",
                                    headers={"Retry-After": DATABASE_RETRY_SECONDS})
        return {"status": "ready"}
