"""gunicorn.conf.py's defaults follow the database: one thread a worker on SQLite, four on PostgreSQL."""
import runpy
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


def settings(monkeypatch, **environment) -> dict:
    for name in ("DATABASE_URL", "GUNICORN_THREADS", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


@pytest.mark.parametrize(("database_url", "threads"), [
    (None, 1),  # the app's own default database is a SQLite file
    ("sqlite:////srv/waypoint/waypoint.db", 1),
    ("postgresql+psycopg://waypoint@db.internal:5432/waypoint", 4),
])
def test_threads_per_worker_follow_the_database(monkeypatch, database_url, threads):
    environment = {} if database_url is None else {"DATABASE_URL": database_url}
    assert settings(monkeypatch, **environment)["threads"] == threads


def test_the_environment_still_decides_threads_and_workers(monkeypatch):
    chosen = settings(monkeypatch, DATABASE_URL="sqlite:///w.db", GUNICORN_THREADS="3", WEB_CONCURRENCY="5")
    assert (chosen["threads"], chosen["workers"]) == (3, 5)
