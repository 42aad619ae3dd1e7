"""The fixed baseline: a bare Flask app with one JSON route, served like Waypoint.

Its cost does not move when Waypoint's hooks get cheaper (as /healthz's
does), so every figure is also printed as a share of its throughput, in the
same run under the same gunicorn.conf.py: `gunicorn -c gunicorn.conf.py
"bench.bare:create_app()"`.
"""
from flask import Flask

PATH = "/bare"
# What gunicorn is given to serve it.
APP = "bench.bare:create_app()"


def create_app() -> Flask:
    """Return a Flask app that answers GET /bare (and /healthz, for the harness's start-up probe)."""
    app = Flask(__name__)

    @app.get(PATH)
    def bare():
        return {"status": "ok"}

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
