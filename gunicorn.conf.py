"""Gunicorn settings for Waypoint in production.

    DATABASE_URL=... JWT_SECRET_KEY=... gunicorn -c gunicorn.conf.py "api:create_app()"

Every default below can be overridden from the environment:

    GUNICORN_BIND         address to listen on (default 127.0.0.1:8000; behind a
                          load balancer on a private network, e.g. 0.0.0.0:8000)
    WEB_CONCURRENCY       worker processes (default: one per core)
    GUNICORN_THREADS      threads per worker (default 1 on SQLite, 4 on PostgreSQL)
    GUNICORN_KEEPALIVE    seconds an idle keep-alive connection stays open (75)
    GUNICORN_MAX_REQUESTS recycle a worker after this many requests (0: never)
    GUNICORN_ACCESS_LOG   "-" for gunicorn's own access line as well (default: none;
                          the app writes one line per request, waypoint.requests)
    LOG_FORMAT            "json" or "text" (default: json when WAYPOINT_ENV=production);
                          the master's lines, the workers' and the app's alike, on stderr
    FORWARDED_ALLOW_IPS   gunicorn's own: the load balancer's address, whose
                          X-Forwarded-Proto gunicorn believes (https). It does not
                          touch the client's address: the app takes that from
                          X-Forwarded-For as TRUSTED_PROXY_HOPS says (api/config.py)

Worker class gthread, one worker per core; one thread each on SQLite, four
on PostgreSQL. A check-in is a short burst of Python (2-3 ms of CPU today)
around a few database statements and one durable commit; a caseload page
of 100 patients about the same, 5 ms for 500 (the figures are kept). What
decides a request's p99 is what it queues behind:

* Behind the GIL. One process runs Python on one core at a time, so the
  workers must cover the cores, and threads of one worker share its core.
  For the same reason a worker with a request under way leaves new
  connections to a free one (api/gunicorn_worker.py): stock gthread let
  whichever worker woke first take every connection of a burst, and their
  keep-alive requests then shared its one core while the other idled.
* Behind other writers. On SQLite every request writes (a read's audit
  row too), one at a time, queued on a turn across the processes
  (api/writer_turn.py). With four threads a worker, its threads took turns
  on its core and its GIL while one of them held the turn that every
  writer waits for: each request cost more CPU (a check-in 2.6-2.8 ms
  against 2.4), check-ins queued, and a clinician's page starved.
* Behind a slow request, which threads would let a request run beside.
  On SQLite the slow requests (a login's password hash, a sync of many
  days) hold the turn, which every request needs anyway; on PostgreSQL the
  waits are round trips to the server, which threads overlap.

Measured with bench/ on this 2-core machine, 2026-12-03 (alternating runs,
8 connections; "with a clinician" adds one connection loading a 500-patient
caseload all the while):

    SQLite         check-ins alone           with a clinician          the clinician's pages
    2 x 1 gthread  677-706/s, p99 19-26 ms   520-534/s, p99 23-24 ms   60-72/s, p99 21-28 ms
    2 x 4 gthread  488-503/s, p99 35-40 ms   444-470/s, p99 35-41 ms   16-18/s, p99 0.9-1.3 s
    PostgreSQL, its server on this machine
    2 x 1 gthread  471-472/s, p99 26 ms      336-356/s, p99 38-66 ms   46-58/s, p99 30-39 ms
    2 x 4 gthread  362-385/s, p99 42-48 ms   314-331/s, p99 52-62 ms   34-36/s, p99 118-191 ms

One thread on SQLite also served the floor (an audited read) at
1,029-1,059 requests a second against 855-967, and a 100-patient caseload
at 710-734 against 586-650. PostgreSQL keeps four: its server is usually
another machine, and each request's three to five round trips to it are
waits that only other threads can fill (with the server on this machine,
one thread was as fast or faster). Each thread holds at
most one database connection: workers x threads per machine (8 on 2
cores) count against PostgreSQL's max_connections.

P5 of `python -m bench` compares these settings with the same number of
plain sync workers on pure check-in traffic in every run.
"""
import importlib.util
import logging
import os
from pathlib import Path


def _load_by_path(name: str):
    """Load api/<name>.py by its path: the master must not import the app (see api/logs.py)."""
    spec = importlib.util.spec_from_file_location(f"waypoint_{name}",
                                                  Path(__file__).resolve().parent / "api" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
_gunicorn_worker = _load_by_path("gunicorn_worker")
# gthread, except that liveness probes (/healthz) never wait for a thread
# (api/gunicorn_worker.py; gunicorn's own 400/431 answers go in the same class).
worker_class = _gunicorn_worker.ProblemThreadWorker
workers = int(os.environ.get("WEB_CONCURRENCY", _cores))
# The app's own default database is SQLite (api/config.py): one thread unless DATABASE_URL names a server.
_on_sqlite = os.environ.get("DATABASE_URL", "sqlite").startswith("sqlite")
threads = int(os.environ.get("GUNICORN_THREADS", "1" if _on_sqlite else "4"))

# Longer than a load balancer's idle timeout (60 s on the common ones), so
# the balancer closes idle connections first and never sends a request down
# one that gunicorn is closing (a 502). Idle connections wait in the
# worker's poller, not in a thread.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
# A gthread worker's heartbeat does not stop during a long request, so this
# only catches a worker that hangs; graceful_timeout lets in-flight requests
# finish on a deploy.
timeout = 30
graceful_timeout = 30

# Each worker builds its own app: no database connection or pool is created
# before the fork and then shared between processes.
preload_app = False
# Recycling a worker costs an app start and its warm caches; turn it on only
# if a leak shows up.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10

# The heartbeat file on tmpfs: a worker is not declared dead because the
# disk is busy with the database's fsyncs.
# (Gunicorn's own advice; the file holds no data, so a shared tmpfs is no risk.)
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108


_logs = _load_by_path("logs")
errorlog = "-"
# Every line, the master's included, in the app's format: JSON in production.
# The app's own line per request names the route's rule, never the path.
logconfig_dict = _logs.gunicorn_logconfig(_logs.log_format(os.environ),
                                          access_log=bool(os.environ.get("GUNICORN_ACCESS_LOG")))
# When turned on, gunicorn's access line names no path (patient ids), query,
# referrer, user agent or address: method, status, bytes and milliseconds.
access_log_format = '"%(m)s" %(s)s %(B)s bytes %(M)s ms'
# gunicorn's logger, except that it works out the access line's fields only
# when the line is on: gunicorn would do it on every request.
logger_class = _gunicorn_worker.AccessLineLogger


def on_starting(server):
    """Route Python's warnings through logging too (the workers inherit it)."""
    logging.captureWarnings(True)
