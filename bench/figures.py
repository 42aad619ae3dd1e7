"""The measurements P1-P5 on one database, each against a baseline from the same run."""
import http.client
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, update

from models import CaseloadRow, db

from . import bare, batches, floor, promises
from .data import CARE_TEAM_SIZES, ClinicLogins, bench_app, writer_days
from .load import CheckinWrites, Get, LoadGenerator, LoadResult
from .server import WAYPOINT_APP, Server, machine_idle_seconds
from .settings import TARGETS, Settings, spread, verdict

# The default caseload page (50 rows, risk first), and what every patient-data
# request pays before its own work: the token and its session checked, the
# audit event written and committed, one small read.
CASELOAD_PATH, FLOOR_PATH = floor.CASELOAD_PATH, floor.FLOOR_PATH
CASELOAD_CASES = (*(f"{size}x90" for size in CARE_TEAM_SIZES), f"{max(CARE_TEAM_SIZES)}x365")
BARE_LABEL = f"GET {bare.PATH} of a bare Flask app (bench/bare.py)"
# P5 compares the shipped configuration with this one, same worker count.
PLAIN_SYNC_WORKERS = ("--worker-class", "sync", "--threads", "1")

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

    @property
    def clinic_url(self) -> str:
        """The clinic database's URL: every HTTP figure runs against it."""
        if self.main_url is None:
            raise RuntimeError(f"[{self.name}] no clinic database was built")
        return self.main_url

    @property
    def clinic_logins(self) -> ClinicLogins:
        """Who the HTTP figures act as, made when the clinic database was built."""
        if self.logins is None:
            raise RuntimeError(f"[{self.name}] no clinic database was built")
        return self.logins

    # --- running ---------------------------------------------------------------------

    def run_http(self) -> None:
        """P1, P2, P4 and P5 against gunicorn."""
        wanted = self.only & {"P1", "P2", "P4", "P5"}
        if not wanted:
            return
        now = datetime.now().astimezone()
        writes = CheckinWrites(tokens=self.clinic_logins.writers, days=writer_days(now))
        shipped = self._start("shipped")
        # The fixed baseline: a bare Flask app under the same gunicorn.conf.py,
        # idle but for its own loads, like the plain-sync server below.
        bare_server = self._start("bare", app=bare.APP)
        # P5's server with plain sync workers runs beside it, idle but for its
        # own loads, so the two check-in loads alternate within each round and
        # share whatever else the machine is doing at the time.
        plain = self._start("plain-sync", PLAIN_SYNC_WORKERS) if "P5" in wanted else None
        # The promises of the floor, P1 and P2 and nothing else, on the same stack
        # (bench/promises.py): what each would cost if Waypoint added nothing to them.
        reference = self._start("promises", app=promises.APP) if wanted & {"P1", "P2"} else None
        plans: dict[str, tuple[Server, object]] = {"bare app": (bare_server, Get(bare.PATH)),
                                                   "healthz": (shipped, Get("/healthz"))}
        if wanted & {"P1", "P5"}:
            plans["checkin"] = (shipped, writes)
        if wanted & {"P1", "P2"}:
            floor_request = Get(FLOOR_PATH, self.clinic_logins.writers[0])
            plans["floor"] = (shipped, floor_request)
            if reference is not None:  # each reference answers its figure's very requests
                plans["promises"] = (reference, floor_request)
                if "P1" in wanted:  # the same walk through the writers' days: every PUT a real write
                    plans["promises, P1 PUT"] = (reference, writes)
        if plain is not None:
            plans["checkin, plain sync workers"] = (plain, writes)
        if "P2" in wanted:
            for case in CASELOAD_CASES:
                plans[f"caseload {case}"] = (shipped, Get(CASELOAD_PATH, self.clinic_logins.caseload[case]))
            if reference is not None:
                plans["promises, caseload 100x90"] = (
                    reference, Get(CASELOAD_PATH, self.clinic_logins.caseload["100x90"]))
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
                connections = max(2, self.settings.connections // 2) if "caseload" in label else None
                loads.setdefault(label, []).append(self._load(server, plan, self.settings.seconds, connections))
        for side_server in (plain, reference, bare_server):
            if side_server is not None:
                side_server.stop()
        if "P4" in wanted:
            self.progress(f"  [{self.name}] P4: {self.settings.p4_syncs} syncs of {batches.SYNC_DAYS} days and "
                          f"{self.settings.p4_puts} single PUTs per repetition")
            self.results["P4"] = batches.offline_sync(self, shipped, now)
        shipped.stop()
        self.raw["loads"] = {label: [r.to_dict() for r in runs] for label, runs in loads.items()}
        if wanted & {"P1", "P2"}:
            self._floor(loads)
            self.progress(f"  [{self.name}] the floor's stages, in-process (CPU per request, cProfile)")
            self.results["floor"]["in_process"] = self._in_process(writes, now)
        if "P1" in wanted:
            self._ingest(loads)
        if "P2" in wanted:
            self._caseload(loads)
        if "P5" in wanted:
            self._tail(loads["checkin"], loads["checkin, plain sync workers"])

    def run_weekly(self) -> None:
        """P3, in processes of its own."""
        figure = batches.weekly(self)
        if figure is not None:
            self.results["P3"] = figure

    def _start(self, label: str, extra: tuple[str, ...] = (), app: str = WAYPOINT_APP) -> Server:
        server = Server(self.clinic_url, self.jwt_secret, self.log_dir, f"{self.name}-{label}", extra, app)
        self.servers.append(server)
        return server.start()

    def _load(self, server: Server, plan, seconds: float, connections: int | None = None) -> LoadResult:
        before, idle_before, started = server.cpu_seconds(), machine_idle_seconds(), time.monotonic()
        result = self.loadgen.run(server.host, plan, seconds, connections)
        result.idle_cores = (machine_idle_seconds() - idle_before) / (time.monotonic() - started)
        _drain(server)
        result.server_cpu_s = server.cpu_seconds() - before
        total = result.requests + result.failures
        if total and result.failures / total > 0.01:
            raise RuntimeError(f"{result.failures} of {total} requests failed on {server.label} ({plan}); "
                               f"one more: {_sample(server, plan)}; server log:\n{server.log_tail()}")
        return result

    # --- P1 --------------------------------------------------------------------------

    def _ingest(self, loads) -> None:
        ratios = _throughput_ratios(loads["checkin"], loads["bare app"])
        self.results["P1"] = _throughput_figure("PUT /api/v1/me/checkins/{date}", loads["checkin"],
                                                BARE_LABEL, loads["bare app"], ratios, "P1")
        if "promises, P1 PUT" in loads:
            self.results["P1"]["promises"] = _reference_figure(
                "PUT /api/v1/me/checkins/{date} answered by bench/promises.py", loads["promises, P1 PUT"],
                loads["checkin"], loads["bare app"])

    def _floor(self, loads) -> None:
        """The authenticated, audited read that bounds what P1 and P2 can reach, and /healthz, against the bare app."""
        floor, base = loads["floor"], loads["bare app"]
        self.results["floor"] = _throughput_figure(f"GET {FLOOR_PATH}", floor, BARE_LABEL, base,
                                                   _throughput_ratios(floor, base), "floor")
        self.results["healthz"] = _throughput_figure("GET /healthz (answered by the gunicorn worker)",
                                                     loads["healthz"], BARE_LABEL, base,
                                                     _throughput_ratios(loads["healthz"], base), None)
        if "promises" in loads:
            self.results["promises"] = _reference_figure(
                f"GET {FLOOR_PATH} answered by bench/promises.py", loads["promises"], floor, base)
        against = {"P1": "checkin", "P2": "caseload 100x90"}
        self.results["floor"]["shares"] = {
            key: spread(_throughput_ratios(loads[label], floor))
            for key, label in against.items() if label in loads
        }

    def _in_process(self, writes: CheckinWrites, now: datetime) -> dict:
        """CPU microseconds per request in-process against the bare app, and where each request's go.

        The same kinds of request as the loads, through the WSGI callable
        without gunicorn: what the app itself costs, request by request.
        """
        app = bench_app(self.clinic_url, self.jwt_secret)
        # Rewrites of the days the P1 load wrote, well past its slots: real writes, none a no-op.
        kinds: dict[str, tuple[Any, Callable]] = {
            "bare app": (bare.create_app(), floor.get(bare.PATH)),
            "floor": (app, floor.get(FLOOR_PATH, self.clinic_logins.writers[0])),
            "P1 PUT": (app, floor.CheckinRewrites(writes, start=10**6)),
            "P2 caseload 100x90": (app, floor.get(CASELOAD_PATH, self.clinic_logins.caseload["100x90"])),
        }
        try:
            micros = floor.measure(kinds, rounds=max(3, self.settings.repetitions), per_round=200)
            stages = {label: floor.stage_micros(kinds[label][0], kinds[label][1], micros[label]["median"])
                      for label in ("floor", "P1 PUT", "P2 caseload 100x90")}
        finally:
            with app.app_context():
                db.engine.dispose()
        return {"micros": micros, "stages": stages}

    # --- P2 --------------------------------------------------------------------------

    def _caseload(self, loads) -> None:
        base = loads["bare app"]
        cases = {}
        for case in CASELOAD_CASES:
            runs = loads[f"caseload {case}"]
            ratios = _throughput_ratios(runs, base)
            cases[case] = _throughput_figure(f"GET /api/v1/caseload, {case.replace('x', ' patients x ')} days",
                                             runs, BARE_LABEL, base, ratios,
                                             "P2" if case == "100x90" else None)
        if "promises, caseload 100x90" in loads:
            cases["100x90"]["promises"] = _reference_figure(
                f"GET {CASELOAD_PATH}, 100 patients x 90 days, answered by bench/promises.py",
                loads["promises, caseload 100x90"], loads["caseload 100x90"], base)
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
            ratios = [d.throughput / n.throughput for n, d in zip(numerator, denominator, strict=True)]
            return ratios, "time per request"
        return ([_cpu_ms(n) / _cpu_ms(d) for n, d in zip(numerator, denominator, strict=True)],
                "server CPU per request: too few requests finished in the window for time per request")

    def _statement_counts(self) -> dict[str, dict]:
        """Statements and in-process milliseconds per caseload request, every row computed and every row kept.

        "computed" is the first view after each patient's figures went stale
        (a write, a new day); "kept" is every view until then.
        """
        app = bench_app(self.clinic_url, self.jwt_secret)
        counts: dict[str, dict[str, int]] = {"computed": {}, "kept": {}}
        milliseconds: dict[str, dict[str, float]] = {"computed": {}, "kept": {}}
        with app.app_context():
            client = app.test_client()
            statements: list[str] = []

            def count(_conn, _cursor, statement, *_args):
                statements.append(statement)

            def view(case: str) -> tuple[int, float]:
                headers = {"Authorization": f"Bearer {self.clinic_logins.caseload[case]}"}
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
                first = self.clinic_logins.caseload[CASELOAD_CASES[0]]
                client.get(CASELOAD_PATH, headers={"Authorization": f"Bearer {first}"})
                for case in CASELOAD_CASES:
                    runs: dict[str, list[tuple[int, float]]] = {"computed": [], "kept": []}
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

    # --- P5 --------------------------------------------------------------------------

    def _tail(self, shipped: list[LoadResult], plain: list[LoadResult]) -> None:
        ratios = [_divide(a.p99_ms, b.p99_ms) for a, b in zip(shipped, plain, strict=True)]
        self.results["P5"] = {
            "what": "check-in PUT p99 with gunicorn.conf.py / with plain sync workers (same worker count)",
            "measured": {"label": "p99, shipped config", "unit": "ms", **spread([r.p99_ms for r in shipped]),
                         "throughput": statistics.median([r.throughput for r in shipped]),
                         "cpu_ms_per_request": statistics.median([_cpu_ms(r) for r in shipped])},
            "baseline": {"label": "p99, plain sync workers", "unit": "ms", **spread([r.p99_ms for r in plain]),
                         "throughput": statistics.median([r.throughput for r in plain]),
                         "cpu_ms_per_request": statistics.median([_cpu_ms(r) for r in plain])},
            "ratio": spread(ratios), "target": TARGETS["P5"], "met": verdict("P5", statistics.median(ratios)),
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
    return [_divide(run.throughput, base.throughput) for run, base in zip(runs, baselines, strict=True)]


def _cpu_ms(run: LoadResult) -> float:
    """Return the server CPU per request of a load; one that served nothing has none, and fails its figure."""
    if run.cpu_ms_per_request is None:
        raise RuntimeError("a load served no requests: no CPU per request to compare")
    return run.cpu_ms_per_request


def _median_idle(runs: list[LoadResult]) -> float | None:
    idle = [r.idle_cores for r in runs if r.idle_cores is not None]
    return statistics.median(idle) if idle else None


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


def _reference_figure(label: str, reference: list[LoadResult], runs: list[LoadResult],
                      base: list[LoadResult]) -> dict:
    """A figure's promises alone against the bare app, and the figure as a share of them ("share")."""
    figure = _throughput_figure(label, reference, BARE_LABEL, base, _throughput_ratios(reference, base), None)
    figure["share"] = spread(_throughput_ratios(runs, reference))
    return figure


def _throughput_figure(label, runs, base_label, base_runs, ratios, target_key) -> dict:
    figure: dict[str, Any] = {
        "measured": {"label": label, "unit": "req/s", **spread([r.throughput for r in runs]),
                     "cpu_ms_per_request": statistics.median([r.cpu_ms_per_request for r in runs]),
                     "idle_cores": _median_idle(runs),
                     "p99_ms": statistics.median([r.p99_ms for r in runs]),
                     "fewest_requests": min(r.requests for r in runs), "in_flight": runs[0].in_flight},
        "baseline": {"label": base_label, "unit": "req/s", **spread([r.throughput for r in base_runs]),
                     "cpu_ms_per_request": statistics.median([r.cpu_ms_per_request for r in base_runs]),
                     "idle_cores": _median_idle(base_runs),
                     "p99_ms": statistics.median([r.p99_ms for r in base_runs])},
        "ratio": spread(ratios),
    }
    if target_key:
        figure["target"] = TARGETS[target_key]
        figure["met"] = verdict(target_key, statistics.median(ratios))
    return figure
