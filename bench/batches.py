"""P3 and P4, the batch figures: the weekly pass over every patient, and an offline queue synced in one request."""
import http.client
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime

from .data import writer_days
from .server import ROOT, Server
from .settings import TARGETS, spread, verdict

SYNC_DAYS = 90


def weekly(run) -> dict | None:
    """P3: the weekly figures for every patient against one full scan, each in a process of its own."""
    if "P3" not in run.only or run.weekly_url is None:
        return None
    settings = run.settings
    runs: list[dict] = []
    begun = time.monotonic()
    for repetition in range(settings.repetitions):
        spent = time.monotonic() - begun
        if runs and spent + spent / len(runs) > settings.weekly_budget_s:
            run.progress(f"  [{run.name}] P3: stopping after {len(runs)} repetition(s), "
                          f"over the {settings.weekly_budget_s:.0f} s budget")
            break
        run.progress(f"  [{run.name}] P3 repetition {repetition + 1}/{settings.repetitions}: "
                      f"{settings.weekly_patients} patients, then one scan")
        runs.append(_weekly_process(run.weekly_url, settings.weekly_patients, scan=True))
    run.progress(f"  [{run.name}] P3 memory at {settings.weekly_small} patients")
    small = _weekly_process(run.weekly_url, settings.weekly_small, scan=False)
    run.raw["weekly"] = [*runs, small]
    # The app and its libraries take ~85 MB before the first figure; the
    # targets are about what the computation adds on top of that.
    added = [run["peak_rss_mb"] - run["rss_before_mb"] for run in runs]
    small_added = small["peak_rss_mb"] - small["rss_before_mb"]
    growth = statistics.median(added) / small_added if small_added > 0 else float("nan")
    ratios = [run["compute_s"] / run["scan_s"] for run in runs]
    compute = [run["compute_s"] for run in runs]
    return {
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


def offline_sync(run, server: Server, now: datetime) -> dict:
    """P4: a 90-day offline queue in one request against one PUT of a new day, sequential."""
    fresh = iter(run.logins.fresh)
    days = writer_days(now, SYNC_DAYS)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        # One of each first: a worker's first request of a kind pays for imports.
        warm = next(fresh)
        _put(connection, warm, days[0])
        _sync(connection, warm, days[1:])
        put_s, sync_s, put_cpu, sync_cpu, ratios = [], [], [], [], []
        for _repetition in range(run.settings.repetitions):
            token = next(fresh)
            cpu, started = server.cpu_seconds(), time.perf_counter()
            for day in days[:run.settings.p4_puts]:
                _put(connection, token, day)
            put = (time.perf_counter() - started) / run.settings.p4_puts
            put_cpu.append(1000 * (server.cpu_seconds() - cpu) / run.settings.p4_puts)
            cpu, started = server.cpu_seconds(), time.perf_counter()
            for _sync_number in range(run.settings.p4_syncs):
                _sync(connection, next(fresh), days)
            sync = (time.perf_counter() - started) / run.settings.p4_syncs
            sync_cpu.append(1000 * (server.cpu_seconds() - cpu) / run.settings.p4_syncs)
            put_s.append(1000 * put)
            sync_s.append(1000 * sync)
            ratios.append(sync / put)
    finally:
        connection.close()
    return {
        "what": f"POST /api/v1/me/checkins/sync with {SYNC_DAYS} new days / one PUT of a new day "
                "(latency, one client, sequential)",
        "measured": {"label": f"sync of {SYNC_DAYS} days", "unit": "ms", **spread(sync_s),
                     "cpu_ms_per_request": statistics.median(sync_cpu)},
        "baseline": {"label": "single-day PUT", "unit": "ms", **spread(put_s),
                     "cpu_ms_per_request": statistics.median(put_cpu)},
        "ratio": spread(ratios), "target": TARGETS["P4"], "met": verdict("P4", statistics.median(ratios)),
    }


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
