"""The floor in-process: CPU per request against the bare app, and where a floor request's microseconds go.

Every request is handed to the app's WSGI callable as gunicorn would hand
it (an environ built beforehand, the body read, the answer iterated), and
timed with the process's CPU clock around that call only: the harness's own
work is not billed. Kinds of request alternate round by round and each
figure is the median of the rounds, so a busy neighbour on a shared machine
weighs on all of them alike.

`python -m bench.floor --url sqlite:///clinic.db --logins logins.json`
measures a clinic `python -m bench` built; the harness itself calls
measure() and stage_micros() after its HTTP loads.
"""
import argparse
import cProfile
import io
import json
import pstats
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

from . import bare
from .data import bench_app, writer_days
from .load import CheckinWrites

FLOOR_PATH = "/api/v1/me/checkins?page_size=1"
CASELOAD_PATH = "/api/v1/caseload"

# Where a request's time goes: (stage, [(file suffix, function)]), in the
# order shown. A function's time counts in the first stage that names it or
# one of its callers; "the view's own work" leaves out the audit commit it calls.
STAGES = (
    ("token signature and claims (PyJWT)", [("api/extensions.py", "_decode_jwt_from_config")]),
    ("token's session and the caller (one SELECT)", [("services/sessions.py", "token_holder"),
                                                      ("services/sessions.py", "token_holder_user"),
                                                      ("services/sessions.py", "load_caller")]),
    ("audit event and its commit", [("api/audit.py", "commit_with_audit"), ("api/audit.py", "_record")]),
    ("arguments: query, headers and body (webargs)", [("webargs/core.py", "parse")]),
    ("response: dump and JSON", [("marshmallow/schema.py", "dump"), ("flask/json/__init__.py", "jsonify")]),
    ("rate limiter hooks", [("flask_limiter/_extension.py", "_check_request_limit"),
                            ("flask_limiter/_extension.py", "__inject_headers"),
                            ("flask_limiter/_extension.py", "__release_context")]),
    ("request log line and id", [("api/request_log.py", "_log_request"), ("api/request_log.py", "_start_clock")]),
    ("security headers", [("api/security.py", "add_security_headers")]),
)
# The stages the floor's two promises (and the token's check they start from)
# cost on any stack: what bench.promises answers with too.
PROMISE_STAGES = ("token signature and claims (PyJWT)", "token's session and the caller (one SELECT)",
                  "audit event and its commit")
VIEWS = (("api/resources/checkins.py", "put"), ("api/resources/checkins.py", "get"),
         ("api/resources/dashboards.py", "get"))
VIEW_STAGE = "the view's own work (its SQL, rules, figures)"
REST_STAGE = "the rest: Flask and werkzeug, the other hooks"


@dataclass
class Request:
    """One request as the WSGI server hands it over."""

    method: str
    path: str
    headers: dict
    body: str | None = None

    def environ(self) -> dict:
        builder = EnvironBuilder(path=self.path, method=self.method, headers=self.headers,
                                 data=self.body, environ_base={"REMOTE_ADDR": "127.0.0.1"})
        try:
            return builder.get_environ()
        finally:
            builder.close()


def call(app, request: Request) -> tuple[int, float]:
    """Send one request; return its status and the CPU seconds the app spent on it."""
    environ = request.environ()
    status = []

    def start_response(line, _headers, _exc_info=None):
        status.append(int(line.split(" ", 1)[0]))

    started = time.process_time()
    answer = app(environ, start_response)
    try:
        for _chunk in answer:
            pass
    finally:
        if hasattr(answer, "close"):
            answer.close()
    return status[0], time.process_time() - started


class CheckinRewrites:
    """The P1 load's PUTs, in the same (patient, day) order: new days first, then rewrites."""

    def __init__(self, writes: CheckinWrites, start: int = 0):
        self.writes, self.number = writes, start

    def __call__(self, app) -> tuple[int, float]:
        number, self.number = self.number, self.number + 1
        token, day, visit = self.writes.slot(number)
        path = f"/api/v1/me/checkins/{day}"
        body = CheckinWrites.body(visit, number)
        status, spent = call(app, Request("PUT", path, CheckinWrites.headers(token, visit), body))
        if status == 412:  # the day has no check-in yet: `*` matches nothing, so write it
            status, more = call(app, Request("PUT", path, CheckinWrites.headers(token, 1), body))
            spent += more
        return status, spent


def get(path: str, token: str | None = None) -> Callable:
    """Return a sender of one GET (with a bearer token if given)."""
    request = Request("GET", path, {"Authorization": f"Bearer {token}"} if token else {})
    return lambda app: call(app, request)


def measure(kinds: dict[str, tuple[Any, Callable]], rounds: int = 5, per_round: int = 200,
            warmup: int = 20) -> dict[str, dict]:
    """Return each kind's CPU microseconds per request: median of the rounds, min and max.

    kinds: label -> (WSGI app, sender). The kinds alternate within each round.
    """
    for app, send in kinds.values():
        for _ in range(warmup):  # imports, the pool, kept rows
            checked(send(app))
    spent: dict[str, list[float]] = {label: [] for label in kinds}
    for _round in range(rounds):
        for label, (app, send) in kinds.items():
            total = sum(checked(send(app)) for _ in range(per_round))
            spent[label].append(1e6 * total / per_round)
    return {label: {"median": statistics.median(values), "min": min(values), "max": max(values)}
            for label, values in spent.items()}


def stage_micros(app, send: Callable, micros_per_request: float, requests: int = 300) -> dict[str, float]:
    """Split a request's CPU microseconds into STAGES, the view's own work and the rest.

    The shares come from cProfile on the process's CPU clock (waiting for a
    disk's fsync is no one's CPU); the profiler slows Python calls more than
    time in C (drivers, SQLite), so the shares are scaled to
    micros_per_request, the same request measured without the profiler.
    """
    for _ in range(20):
        checked(send(app))
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    for _ in range(requests):
        checked(send(app))
    profile.disable()
    shares = stage_shares(pstats.Stats(profile, stream=io.StringIO()).stats)  # type: ignore[attr-defined]
    return {stage: round(share * micros_per_request) for stage, share in shares.items()}


def stage_shares(stats: dict) -> dict[str, float]:
    """Split the profiled requests' time into STAGES, the view's own work and the rest (shares of 1)."""
    def cumulative(wanted) -> float:
        return sum(entry[3] for (file, _line, function), entry in stats.items()
                   if any(file.endswith(suffix) and function == name for suffix, name in wanted))

    total = cumulative([("flask/app.py", "wsgi_app")])
    seconds = {stage: cumulative(functions) for stage, functions in STAGES}
    # The view's time holds the audit commit a view makes itself (commit_with_audit).
    seconds[VIEW_STAGE] = cumulative(VIEWS) - cumulative([("api/audit.py", "commit_with_audit")])
    seconds[REST_STAGE] = total - sum(seconds.values())
    return {stage: max(0.0, value) / total for stage, value in seconds.items()}


def checked(result: tuple[int, float]) -> float:
    """Return a sent request's CPU seconds; raise if it was refused (a refusal would measure the wrong thing)."""
    status, spent = result
    if status >= 400:
        raise RuntimeError(f"a measured request answered {status}")
    return spent


def clinic_kinds(app, logins: dict) -> dict[str, tuple[Any, Callable]]:
    """Return each kind measured on a clinic, by label: (WSGI app, sender); logins as bench.data writes them."""
    writes = CheckinWrites(tokens=logins["writers"], days=writer_days(datetime.now().astimezone()))
    return {
        "bare app": (bare.create_app(), get(bare.PATH)),
        "/healthz (through Flask)": (app, get("/healthz")),
        "floor": (app, get(FLOOR_PATH, logins["writers"][0])),
        "P1 PUT": (app, CheckinRewrites(writes)),
        "P2 caseload 100x90": (app, get(CASELOAD_PATH, logins["caseload"]["100x90"])),
    }


def main(argv: list[str] | None = None) -> None:
    """Print the in-process figures for a clinic built by `python -m bench` (or bench.data)."""
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=main.__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--clinic", type=Path, required=True, help="JSON: {secret, logins}")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--stages", action="store_true", help="also profile the floor's stages")
    args = parser.parse_args(argv)
    clinic = json.loads(args.clinic.read_text())
    kinds = clinic_kinds(bench_app(args.url, clinic["secret"]), clinic["logins"])
    app, floor = kinds["floor"]
    figures = measure(kinds, args.rounds, args.per_round)
    base = figures["bare app"]["median"]
    for label, figure in figures.items():
        print(f"{label:28s} {figure['median']:8.0f} us [{figure['min']:.0f}-{figure['max']:.0f}]"
              f"  {100 * base / figure['median']:5.1f} % of the bare app")
    if args.stages:
        for stage, micros in stage_micros(app, floor, figures["floor"]["median"]).items():
            print(f"  {micros:6d} us  {stage}")


if __name__ == "__main__":
    main()
