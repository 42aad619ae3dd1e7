"""Gunicorn settings for Waypoint in production.

    DATABASE_URL=... JWT_SECRET_KEY=... gunicorn -c gunicorn.conf.py "api:create_app()"

Every default below can be overridden from the environment:

    GUNICORN_BIND         address to listen on (default 127.0.0.1:8000; behind a
                          load balancer on a private network, e.g. 0.0.0.0:8000)
    WEB_CONCURRENCY       worker processes (default: one per core)
    GUNICORN_THREADS      threads per worker (default 4)
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

Worker class gthread, one worker per core, 4 threads each, on both
databases. A check-in is a short burst of Python (5-8 ms of CPU today)
around a few database round trips and one durable commit; a caseload page
is hundreds of milliseconds of Python. What decides a check-in's p99 is
what it queues behind:

* Behind a slow request. A sync worker serves one request at a time, so a
  check-in that lands on a worker busy with a caseload waits for all of it.
  Threads let it run beside the caseload. They also keep the load
  balancer's (or a phone's) connection open between requests, which a sync
  worker closes after each one, and let a worker go on while a request
  waits on the database.
* Behind the GIL. One process runs Python on one core at a time, so the
  workers must cover the cores: a single process holding all the threads
  shares one core between check-ins and caseloads. For the same reason a
  worker with a request under way leaves new connections to a free one
  (api/gunicorn_worker.py): stock gthread let whichever worker woke first
  take every connection of a burst, and their keep-alive requests then
  shared its one core while the other idled.
* Behind other writers. On SQLite the app's per-process write lock
  (api/database.py) queues a process's threads fairly; writers of
  different processes still meet on SQLite's file lock, whose busy handler
  sleeps and polls. That costs some tail on pure write traffic, far less
  than the GIL costs a single process once clinicians read.

Measured with bench/ on this 2-core machine, 2026-11-23: check-in p99 at
8 connections, median of 3-4 alternating rounds, alone ("pure") and with
one clinician loading a 100-patient caseload all the while ("mixed"):

    SQLite        pure    mixed       PostgreSQL    pure    mixed
    2 x 4 gthread 107 ms   76 ms      2 x 4 gthread 110 ms   93 ms
    2 sync        112 ms   89 ms      2 sync        105 ms  202 ms
    1 x 4 gthread  85 ms  320 ms      2 x 2 gthread 101 ms  107 ms
    1 sync         70 ms  301 ms

Four threads rather than two: the same p99 alone, better with the
caseload running, and room for the longer round trips to a PostgreSQL on
another machine. Each thread holds at most one database connection:
workers x threads per machine (8 on 2 cores) count against PostgreSQL's
max_connections.

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
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

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
