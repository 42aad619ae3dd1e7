"""The measurements P1-P5 on one database, each against a baseline from the same run."""
import http.client
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .data import CARE_TEAM_SIZES, ClinicLogins, bench_app, writer_days
from .load import CheckinWrites, Get, LoadGenerator, LoadResult
from .server import ROOT, Server

CASELOAD_PATH = "/api/v1/caseload"  # the default page: 50 rows, risk first
# What every patient-data request pays before its own work: the token and its
# session checked, the audit event written and committed, one small read.
FLOOR_PATH = "/api/v1/me/checkins?page_size=1"
CASELOAD_CASES = tuple(f"{size}x90" for size in CARE_TEAM_SIZES) + (f"{max(CARE_TEAM_SIZES)}x365",)
SYNC_DAYS = 90
STAGE_REQUESTS = 300  # per kind of request, for the in-process profile
# Where a request's time goes: (stage, [(file suffix, function)], ...) in the order shown.
STAGES = (
    ("token signature and claims (PyJWT)", [("api/extensions.py", "_decode_jwt_from_config")]),
    ("token's session and the caller (one SELECT)", [("services/sessions.py", "token_holder")]),
    ("audit event and the commit", [("api/audit.py", "commit_with_audit"), ("api/audit.py", "_record")]),
)
VIEWS = {("api/resources/checkins.py", "put"), ("api/resources/checkins.py", "get"),
         ("api/resources/dashboards.py", "get")}
# P5 compares the shipped configuration with this one, same worker count.
PLAIN_SYNC_WORKERS = ("--worker-class", "sync", "--threads", "1")

TARGETS = {
    "P1": ("ratio", ">=", 0.33), "P2": ("ratio", ">=", 0.20), "P2.size": ("ratio", "<=", 5.0),
    "P2.year": ("ratio", ">=", 0.9), "P3": ("ratio", "<=", 2.0), "P3.peak": ("mb", "<=", 100.0),
    "P3.growth": ("ratio", "<=", 1.2), "P4": ("ratio", "<=", 10.0), "P5": ("ratio", "<=", 2.0),
}


@dataclass
class Settings:
    seconds: float = 6.0  # per timed load
    warmup_seconds: float = 2.0
    repetitions: int = 3
    connections: int = 8
    weekly_patients: int = 10_000
    weekly_small: int = 1_000
    weekly_days: int = 365
    p4_puts: int = 20  # single-day PUTs per repetition
    p4_syncs: int = 3  # 90-day syncs per repetition
    writers: int = 1000
    # No P3 repetition that would end past this: at the target (<= 2x a scan
    # of ~5 s) three fit easily; far from it, one or two show the gap.
    weekly_budget_s: float = 90.0

    @property
    def fresh_patients(self) -> int:
        return 1 + self.repetitions * (1 + self.p4_syncs)


def spread(values: list[float]) -> dict:
    """Median, min and max of the repetitions, and the values themselves."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": values}


def verdict(key: str, value: float) -> bool:
    _unit, operator, limit = TARGETS[key]
    return value >= limit if operator == ">=" else value <= limit


@dataclass
class DatabaseRun:
    """Everything measured on one database."""

    name: str  # "sqlite" or "postgresql"
    main_url: str | None
    weekly_url: str | None
    settings: Settings
    loadgen: LoadGenerator
    logins: ClinicLogins | None
    jwt_secret: str
    log_dir: Path
    only: set[str]
    servers: list[Server]  # the caller stops whatever is left here on any exit
    progress: Callable[[str], None] = print
    results: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)

    # --- running ---------------------------------------------------------------------

    def run_http(self) -> None:
        """P1, P2, P4 and P5 against gunicorn."""
        wanted = self.only & {"P1", "P2", "P4", "P5"}
        if not wanted:
            return
        now = datetime.now().astimezone()
        writes = CheckinWrites(tokens=self.logins.writers, days=writer_days(now))
        shipped = self._start("shipped")
        # P5's server with plain sync workers runs beside it, idle but for its
        # own loads, so the two check-in loads alternate within each round and
        # share whatever else the machine is doing at the time.
        plain = self._start("plain-sync", PLAIN_SYNC_WORKERS) if "P5" in wanted else None
        plans: dict[str, tuple[Server, object]] = {"healthz": (shipped, Get("/healthz"))}
        if wanted & {"P1", "P5"}:
            plans["checkin"] = (shipped, writes)
        if wanted & {"P1", "P2"}:
            plans["floor"] = (shipped, Get(FLOOR_PATH, self.logins.writers[0]))
        if plain is not None:
            plans["checkin, plain sync workers"] = (plain, writes)
        if "P2" in wanted:
            for case in CASELOAD_CASES:
                plans[f"caseload {case}"] = (shipped, Get(CASELOAD_PATH, self.logins.caseload[case]))
        self.progress(f"  [{self.name}] warming up: {', '.join(plans)}")
        for server, plan in plans.values():
            # Two connections: enough to reach both workers, and little to
            # finish afterwards when an endpoint is slow.
            self._load(server, plan, self.settings.warmup_seconds, connections=2)
        loads: dict[str, list[LoadResult]] = {}
        for repetition in range(self.settings.repetitions):
            self.progress(f"  [{self.name}] repetition {repetition + 1}/{self.settings.repetitions}: "
                          f"{len(plans)} loads of {self.settings.seconds:g} s")
            for label, (server, plan) in plans.items():
                # Half the connections for the caseload: still more than the
                # workers can run at once, and half the requests left to
                # finish after the window when a page takes seconds.
                connections = max(2, self.settings.connections // 2) if label.startswith("caseload") else None
                loads.setdefault(label, []).append(self._load(server, plan, self.settings.seconds, connections))
        if plain is not None:
            plain.stop()
        if "P4" in wanted:
            self.progress(f"  [{self.name}] P4: {self.settings.p4_syncs} syncs of {SYNC_DAYS} days and "
                          f"{self.settings.p4_puts} single PUTs per repetition")
            self._offline_sync(shipped, now)
        shipped.stop()
        self.raw["loads"] = {label: [r.to_dict() for r in runs] for label, runs in loads.items()}
        if wanted & {"P1", "P2"}:
            self._floor(loads)
            self.progress(f"  [{self.name}] where a request's time goes (in-process, cProfile)")
            self.results["floor"]["stages"] = self._stages(writes, now)
        if "P1" in wanted:
            self._ingest(loads)
        if "P2" in wanted:
            self._caseload(loads)
        if "P5" in wanted:
            self._tail(loads["checkin"], loads["checkin, plain sync workers"])

    def _start(self, label: str, extra: tuple[str, ...] = ()) -> Server:
        server = Server(self.main_url, self.jwt_secret, self.log_dir, f"{self.name}-{label}", extra)
        self.servers.append(server)
        return server.start()

    def _load(self, server: Server, plan, seconds: float, connections: int | None = None) -> LoadResult:
        before = server.cpu_seconds()
        result = self.loadgen.run(server.host, plan, seconds, connections)
        _drain(server)
        result.server_cpu_s = server.cpu_seconds() - before
        total = result.requests + result.failures
        if total and result.failures / total > 0.01:
            raise RuntimeError(f"{result.failures} of {total} requests failed on {server.label} ({plan}); "
                               f"one more: {_sample(server, plan)}; server log:\n{server.log_tail()}")
        return result

    # --- P1 --------------------------------------------------------------------------

    def _ingest(self, loads) -> None:
        ratios = _throughput_ratios(loads["checkin"], loads["healthz"])
        self.results["P1"] = _throughput_figure("PUT /api/v1/me/checkins/{date}", loads["checkin"],
                                                "GET /healthz", loads["healthz"], ratios, "P1")

    def _floor(self, loads) -> None:
        """The authenticated, audited read that bounds what P1 and P2 can reach on this stack."""
        floor, bare = loads["floor"], loads["healthz"]
        self.results["floor"] = _throughput_figure(
            f"GET {FLOOR_PATH}", floor, "GET /healthz", bare,
            _throughput_ratios(floor, bare), None)
        against = {"P1": "checkin", "P2": "caseload 100x90"}
        self.results["floor"]["shares"] = {
            key: spread(_throughput_ratios(loads[label], floor))
            for key, label in against.items() if label in loads
        }

    def _stages(self, writes: CheckinWrites, now: datetime) -> dict[str, dict]:
        """Share of each stage of a request, in-process under cProfile: the profile behind P1 and P2.

        cProfile counts every Python call, which inflates Python-heavy parts
        against time spent in C (the drivers, SQLite): the shares say where
        the Python goes, not exact milliseconds.
        """
        import cProfile
        import pstats

        app = bench_app(self.main_url, self.jwt_secret)
        client = app.test_client()
        requests = {
            "floor": lambda number: client.get(FLOOR_PATH, headers={
                "Authorization": f"Bearer {self.logins.writers[0]}"}),
            "checkin": lambda number: _rewrite(client, writes, number),
            "caseload 100x90": lambda number: client.get(CASELOAD_PATH, headers={
                "Authorization": f"Bearer {self.logins.caseload['100x90']}"}),
        }
        stages = {}
        try:
            for label, send in requests.items():
                for number in range(20):  # imports, the pool, kept rows
                    send(number)
                profile = cProfile.Profile()
                profile.enable()
                for number in range(20, 20 + STAGE_REQUESTS):
                    send(number)
                profile.disable()
                stages[label] = _stage_shares(pstats.Stats(profile).stats)
        finally:
            with app.app_context():
                from models import db
                db.engine.dispose()
        return stages

    # --- P2 --------------------------------------------------------------------------

    def _caseload(self, loads) -> None:
        bare = loads["healthz"]
        cases = {}
        for case in CASELOAD_CASES:
            runs = loads[f"caseload {case}"]
            ratios = _throughput_ratios(runs, bare)
            cases[case] = _throughput_figure(f"GET /api/v1/caseload, {case.replace('x', ' patients x ')} days",
                                             runs, "GET /healthz", bare, ratios,
                                             "P2" if case == "100x90" else None)
        small, large, year = (loads["caseload 100x90"], loads["caseload 500x90"], loads["caseload 500x365"])
        size_ratios, size_basis = self._cost_ratios(large, small)
        year_ratios, year_basis = self._cost_ratios(large, year)
        statements = self._statement_counts()
        self.results["P2"] = {
            "cases": cases,
            "size": {"what": f"cost of the 500-patient page / the 100-patient page ({size_basis})",
                     "basis": size_basis, "ratio": spread(size_ratios), "target": TARGETS["P2.size"],
                     "met": verdict("P2.size", statistics.median(size_ratios))},
            # As a throughput ratio: 1.0 means a year of history costs what 90 days cost.
            "year": {"what": f"cost of 500 x 90 days / cost of 500 x 365 days ({year_basis})",
                     "basis": year_basis, "ratio": spread(year_ratios), "target": TARGETS["P2.year"],
                     "met": verdict("P2.year", statistics.median(year_ratios))},
            "statements": {"what": "SQL statements and ms per caseload request (in-process, test client), "
                                   "every row computed and every row kept",
                           **statements,
                           "met": all(len(set(counts.values())) == 1 for counts in statements["counts"].values())},
        }

    def _cost_ratios(self, numerator: list[LoadResult], denominator: list[LoadResult]) -> tuple[list[float], str]:
        """Return cost(numerator) / cost(denominator) per repetition, and what cost meant.

        Cost is the time per request at saturation (1 / throughput). When a
        load finished too few requests for that to mean much (a slow page in
        a short window), it is the server CPU per request instead.
        """
        every = numerator + denominator
        if all(run.requests >= 2 * run.in_flight for run in every):
            return [d.throughput / n.throughput for n, d in zip(numerator, denominator)], "time per request"
        return ([n.cpu_ms_per_request / d.cpu_ms_per_request for n, d in zip(numerator, denominator)],
                "server CPU per request: too few requests finished in the window for time per request")

    def _statement_counts(self) -> dict[str, dict]:
        """Statements and in-process milliseconds per caseload request, every row computed and every row kept.

        "computed" is the first view after each patient's figures went stale
        (a write, a new day); "kept" is every view until then.
        """
        from sqlalchemy import event, update

        from models import CaseloadRow, db

        app = bench_app(self.main_url, self.jwt_secret)
        counts = {"computed": {}, "kept": {}}
        milliseconds = {"computed": {}, "kept": {}}
        with app.app_context():
            client = app.test_client()
            statements: list[str] = []

            def count(_conn, _cursor, statement, *_args):
                statements.append(statement)

            def view(case: str) -> tuple[int, float]:
                headers = {"Authorization": f"Bearer {self.logins.caseload[case]}"}
                statements.clear()
                started = time.perf_counter()
                response = client.get(CASELOAD_PATH, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"caseload {case} answered {response.status_code}: {response.data[:300]!r}")
                return len(statements), elapsed

            event.listen(db.engine, "before_cursor_execute", count)
            try:
                # The first request of an app pays for lazy imports and the pool.
                client.get(CASELOAD_PATH, headers={"Authorization": f"Bearer {self.logins.caseload[CASELOAD_CASES[0]]}"})
                for case in CASELOAD_CASES:
                    runs = {"computed": [], "kept": []}
                    for _ in range(3):
                        db.session.execute(update(CaseloadRow).values(figures=None))
                        db.session.commit()
                        runs["computed"].append(view(case))
                        runs["kept"].append(view(case))
                    for kind, measured in runs.items():
                        counts[kind][case] = measured[0][0]
                        milliseconds[kind][case] = statistics.median(ms for _n, ms in measured)
            finally:
                event.remove(db.engine, "before_cursor_execute", count)
                db.session.remove()
                db.engine.dispose()
        return {"counts": counts, "milliseconds": milliseconds}

    # --- P4 --------------------------------------------------------------------------

    def _offline_sync(self, server: Server, now: datetime) -> None:
        fresh = iter(self.logins.fresh)
        days = writer_days(now, SYNC_DAYS)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        try:
            # One of each first: a worker's first request of a kind pays for imports.
            warm = next(fresh)
            _put(connection, warm, days[0])
            _sync(connection, warm, days[1:])
            put_s, sync_s, put_cpu, sync_cpu, ratios = [], [], [], [], []
            for _repetition in range(self.settings.repetitions):
                token = next(fresh)
                cpu, started = server.cpu_seconds(), time.perf_counter()
                for day in days[:self.settings.p4_puts]:
                    _put(connection, token, day)
                put = (time.perf_counter() - started) / self.settings.p4_puts
                put_cpu.append(1000 * (server.cpu_seconds() - cpu) / self.settings.p4_puts)
                cpu, started = server.cpu_seconds(), time.perf_counter()
                for _sync_number in range(self.settings.p4_syncs):
                    _sync(connection, next(fresh), days)
                sync = (time.perf_counter() - started) / self.settings.p4_syncs
                sync_cpu.append(1000 * (server.cpu_seconds() - cpu) / self.settings.p4_syncs)
                put_s.append(1000 * put)
                sync_s.append(1000 * sync)
                ratios.append(sync / put)
        finally:
            connection.close()
        self.results["P4"] = {
            "what": f"POST /api/v1/me/checkins/sync with {SYNC_DAYS} new days / one PUT of a new day "
                    "(latency, one client, sequential)",
            "measured": {"label": f"sync of {SYNC_DAYS} days", "unit": "ms", **spread(sync_s),
                         "cpu_ms_per_request": statistics.median(sync_cpu)},
            "baseline": {"label": "single-day PUT", "unit": "ms", **spread(put_s),
                         "cpu_ms_per_request": statistics.median(put_cpu)},
            "ratio": spread(ratios), "target": TARGETS["P4"], "met": verdict("P4", statistics.median(ratios)),
        }

    # --- P5 --------------------------------------------------------------------------

    def _tail(self, shipped: list[LoadResult], plain: list[LoadResult]) -> None:
        ratios = [_divide(a.p99_ms, b.p99_ms) for a, b in zip(shipped, plain)]
        self.results["P5"] = {
            "what": "check-in PUT p99 with gunicorn.conf.py / with plain sync workers (same worker count)",
            "measured": {"label": "p99, shipped config", "unit": "ms", **spread([r.p99_ms for r in shipped]),
                         "throughput": statistics.median([r.throughput for r in shipped]),
                         "cpu_ms_per_request": statistics.median([r.cpu_ms_per_request for r in shipped])},
            "baseline": {"label": "p99, plain sync workers", "unit": "ms", **spread([r.p99_ms for r in plain]),
                         "throughput": statistics.median([r.throughput for r in plain]),
                         "cpu_ms_per_request": statistics.median([r.cpu_ms_per_request for r in plain])},
            "ratio": spread(ratios), "target": TARGETS["P5"], "met": verdict("P5", statistics.median(ratios)),
        }

    # --- P3 --------------------------------------------------------------------------

    def run_weekly(self) -> None:
        if "P3" not in self.only or self.weekly_url is None:
            return
        settings = self.settings
        runs = []
        begun = time.monotonic()
        for repetition in range(settings.repetitions):
            spent = time.monotonic() - begun
            if runs and spent + spent / len(runs) > settings.weekly_budget_s:
                self.progress(f"  [{self.name}] P3: stopping after {len(runs)} repetition(s), "
                              f"over the {settings.weekly_budget_s:.0f} s budget")
                break
            self.progress(f"  [{self.name}] P3 repetition {repetition + 1}/{settings.repetitions}: "
                          f"{settings.weekly_patients} patients, then one scan")
            runs.append(_weekly_process(self.weekly_url, settings.weekly_patients, scan=True))
        self.progress(f"  [{self.name}] P3 memory at {settings.weekly_small} patients")
        small = _weekly_process(self.weekly_url, settings.weekly_small, scan=False)
        self.raw["weekly"] = runs + [small]
        # The app and its libraries take ~85 MB before the first figure; the
        # targets are about what the computation adds on top of that.
        added = [run["peak_rss_mb"] - run["rss_before_mb"] for run in runs]
        small_added = small["peak_rss_mb"] - small["rss_before_mb"]
        growth = statistics.median(added) / small_added if small_added > 0 else float("nan")
        ratios = [run["compute_s"] / run["scan_s"] for run in runs]
        compute = [run["compute_s"] for run in runs]
        self.results["P3"] = {
            "what": f"weekly figures for {settings.weekly_patients} patients x {settings.weekly_days} days "
                    f"({runs[0]['rows_scanned']} check-ins) / one full scan of the check-in table",
            "repetitions": len(runs),
            "repetitions_planned": settings.repetitions,
            "measured": {"label": "weekly figures", "unit": "s", **spread(compute),
                         "per_patient_ms": 1000 * statistics.median(compute) / settings.weekly_patients},
            "baseline": {"label": "full scan", "unit": "s", **spread([run["scan_s"] for run in runs])},
            "ratio": spread(ratios), "target": TARGETS["P3"], "met": verdict("P3", statistics.median(ratios)),
            "memory": {
                "what": "peak RSS of the process minus its RSS before the figures started",
                "added_mb": spread(added), "process_peak_mb": spread([run["peak_rss_mb"] for run in runs]),
                "rss_before_mb": runs[0]["rss_before_mb"], "small_patients": settings.weekly_small,
                "small_added_mb": small_added, "growth": growth,
                "target_peak": TARGETS["P3.peak"], "met_peak": verdict("P3.peak", statistics.median(added)),
                "target_growth": TARGETS["P3.growth"], "met_growth": verdict("P3.growth", growth),
            },
            "implementation": runs[0].get("implementation"),
            "render_ms_per_email": statistics.median(run["render_ms_per_email"] for run in runs)
            if all("render_ms_per_email" in run for run in runs) else None,
        }


def _sample(server: Server, plan) -> str:
    """Send one request of the plan and describe the answer (for a failure report)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        if isinstance(plan, CheckinWrites):
            token, day, visit = plan.slot(plan.next_slot)
            connection.request("PUT", f"/api/v1/me/checkins/{day}", body=CheckinWrites.body(visit, plan.next_slot),
                               headers=CheckinWrites.headers(token, visit))
        else:
            connection.request("GET", plan.path, headers=plan.headers())
        response = connection.getresponse()
        return f"{response.status} {response.read()[:300]!r}"
    except OSError as error:
        return repr(error)
    finally:
        connection.close()


def _throughput_ratios(runs: list[LoadResult], baselines: list[LoadResult]) -> list[float]:
    """Each repetition's throughput as a share of its baseline's in the same repetition."""
    return [_divide(run.throughput, base.throughput) for run, base in zip(runs, baselines)]


def _divide(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def _drain(server: Server, timeout: float = 120.0) -> None:
    """Wait until the server has finished the requests still queued when the load stopped.

    A closed loop leaves one request per connection in flight; for a slow
    endpoint that is seconds of work, which would be billed to the next load.
    """
    deadline = time.monotonic() + timeout
    quiet_samples, last = 0, server.cpu_seconds()
    while quiet_samples < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
        now = server.cpu_seconds()
        quiet_samples = quiet_samples + 1 if now - last < 0.005 else 0
        last = now


def _throughput_figure(label, runs, base_label, base_runs, ratios, target_key) -> dict:
    figure = {
        "measured": {"label": label, "unit": "req/s", **spread([r.throughput for r in runs]),
                     "cpu_ms_per_request": statistics.median([r.cpu_ms_per_request for r in runs]),
                     "p99_ms": statistics.median([r.p99_ms for r in runs]),
                     "fewest_requests": min(r.requests for r in runs), "in_flight": runs[0].in_flight},
        "baseline": {"label": base_label, "unit": "req/s", **spread([r.throughput for r in base_runs]),
                     "cpu_ms_per_request": statistics.median([r.cpu_ms_per_request for r in base_runs])},
        "ratio": spread(ratios),
    }
    if target_key:
        figure["target"] = TARGETS[target_key]
        figure["met"] = verdict(target_key, statistics.median(ratios))
    return figure


def _rewrite(client, writes: CheckinWrites, number: int):
    """Rewrite a day the load wrote (or write it), with a body no earlier visit sent."""
    token, day, _visit = writes.slot(number)
    body = CheckinWrites.body(number, 10**6 + number)
    response = client.put(f"/api/v1/me/checkins/{day}", data=body, headers=CheckinWrites.headers(token, 2))
    if response.status_code == 412:  # the day has no check-in yet: `*` matches nothing, so write it
        response = client.put(f"/api/v1/me/checkins/{day}", data=body, headers=CheckinWrites.headers(token, 1))
    if response.status_code not in (200, 201):
        raise RuntimeError(f"PUT answered {response.status_code}: {response.data[:300]!r}")
    return response


def _stage_shares(stats: dict) -> dict:
    """Split the requests' cumulative time into STAGES, the view's own work and the rest."""
    def cumulative(wanted) -> float:
        return sum(entry[3] for (file, _line, function), entry in stats.items()
                   if any(file.endswith(suffix) and function == name for suffix, name in wanted))

    total = cumulative([("flask/app.py", "wsgi_app")])
    shares = {stage: cumulative(functions) for stage, functions in STAGES}
    # The view's time includes a commit_with_audit it calls: counted once, above.
    view = cumulative(VIEWS) - cumulative([("api/audit.py", "commit_with_audit")])
    shares["the view's own work (its SQL, rules, figures)"] = view
    rest = "the rest: Flask, body parsing and validation (webargs), response dump, rate limits, logging, headers"
    shares[rest] = total - sum(shares.values())
    return {stage: round(seconds / total, 3) for stage, seconds in shares.items()}


def _weekly_process(url: str, patients: int, scan: bool) -> dict:
    command = [sys.executable, "-m", "bench.weekly", "--url", url, "--patients", str(patients)]
    if scan:
        command.append("--scan")
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    for line in completed.stdout.splitlines():
        if line.startswith("WEEKLYJSON "):
            return json.loads(line[len("WEEKLYJSON "):])
    raise RuntimeError(f"bench.weekly failed ({completed.returncode}):\n{completed.stderr[-3000:]}")


def _checkin_body(day_number: int) -> dict:
    return {"craving": 3 + day_number % 3, "mood": 6, "sleep_hours": 7.0, "sleep_quality": 3,
            "used_substance": False, "coping_skills": ["mindfulness"], "triggers": ["stress"],
            "medication_taken": True, "note": f"Offline day {day_number}."}


def _request(connection, method: str, path: str, token: str, body: dict) -> tuple[int, dict]:
    connection.request(method, path, body=json.dumps(body), headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    return response.status, json.loads(payload or b"{}")


def _put(connection, token: str, day: str) -> None:
    status, payload = _request(connection, "PUT", f"/api/v1/me/checkins/{day}", token, _checkin_body(len(day)))
    if status != 201:
        raise RuntimeError(f"PUT of a new day answered {status}: {payload}")


def _sync(connection, token: str, days: list[str]) -> None:
    entries = [{"date": day, **_checkin_body(number)} for number, day in enumerate(days)]
    status, payload = _request(connection, "POST", "/api/v1/me/checkins/sync", token, {"checkins": entries})
    outcomes = [result.get("outcome") for result in payload.get("results", [])]
    if status != 200 or outcomes.count("created") != len(days):
        raise RuntimeError(f"sync answered {status} with outcomes {sorted(set(outcomes))}: {str(payload)[:500]}")
