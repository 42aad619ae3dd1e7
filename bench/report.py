"""The table the harness prints (Markdown, ready for the README) and its JSON file."""
import json
import os
import platform
import runpy
import sqlite3
import statistics
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import gunicorn
import psycopg

from .data import libpq_url
from .figures import CASELOAD_CASES
from .floor import PROMISE_STAGES
from .server import ROOT
from .settings import P1_AIM, TARGETS

_SETTINGS_SHOWN = ("workers", "worker_class", "threads", "keepalive", "timeout", "preload_app", "max_requests")


def machine_info(postgres_url: str | None, load_generator: str, work_dir: Path) -> dict:
    info = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "gunicorn": gunicorn.__version__,
        "load_generator": load_generator,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
        # Other work on a shared machine shows here; the ratios are paired within a round to damp it.
        "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
        # SQLite commits durably (WAL, synchronous=FULL): one fsync each, taken in turn.
        "fsync_ms": disk_fsync_ms(work_dir),
    }
    if postgres_url:
        with psycopg.connect(libpq_url(postgres_url)) as connection:
            version = connection.execute("SHOW server_version").fetchone()
            info["postgresql"] = version[0] if version else "unknown"
    return info


def disk_fsync_ms(directory: Path, times: int = 30) -> float:
    """Return the median time to fsync a small write in directory (where the SQLite file lives)."""
    path = directory / "fsync-probe"
    spent = []
    with open(path, "wb") as probe:
        for _ in range(times):
            probe.write(b"x" * 4096)
            probe.flush()
            started = time.perf_counter()
            os.fsync(probe.fileno())
            spent.append((time.perf_counter() - started) * 1000)
    path.unlink()
    return round(statistics.median(spent), 2)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def shipped_config(database_url: str) -> dict:
    """Return what gunicorn.conf.py decides for a database (it reads DATABASE_URL)."""
    saved = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = database_url
    try:
        settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    finally:
        if saved is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = saved
    return {name: settings[name] for name in _SETTINGS_SHOWN if name in settings}


def write_json(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


# --- the table ---------------------------------------------------------------------------

def print_table(report: dict) -> None:
    print()
    print(table_markdown(report))


def table_markdown(report: dict) -> str:
    machine, settings = report["machine"], report["settings"]
    lines = [
        f"Measured {machine['date']} on {machine['nproc']} cores ({machine['cpu_model']}), "
        f"{machine['memory_gb']} GB, Python {machine['python']}, SQLite {machine['sqlite']}"
        + (f", PostgreSQL {machine['postgresql']}" if machine.get("postgresql") else "")
        + f", gunicorn {machine['gunicorn']}; load: {machine['load_generator']}, "
        f"{settings['seconds']:g} s per load, median of {settings['repetitions']} [min–max]; "
        f"commit {machine['commit']}{' + uncommitted changes' if machine['uncommitted_changes'] else ''}."
        + (f" An fsync on the disk holding the SQLite file takes {machine['fsync_ms']} ms (median): SQLite's "
           f"durable commits, one at a time, top out near {1000 / machine['fsync_ms']:.0f} a second."
           if machine.get("fsync_ms") else ""),
        "",
        "| DB | Figure | Measured | Baseline (same run) | Ratio | Target | Met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, database in report["databases"].items():
        for row in _rows(database["figures"]):
            lines.append("| " + " | ".join([name, *row]) + " |")
    for kind, config in report.get("gunicorn", {}).items():
        shown = ", ".join(f"{key}={value}" for key, value in config.items())
        lines.append(f"\ngunicorn.conf.py on {kind}: {shown}")
    for note in report.get("notes", []):
        lines.append(f"\nNote: {note}")
    return "\n".join(lines)


def _rows(figures: dict) -> list[list[str]]:
    rows = []
    if "floor" in figures:
        rows.extend(_floor_rows(figures))
    if "P1" in figures:
        figure = figures["P1"]
        rows.append(["P1 ingest: PUT check-in (real writes)", _throughput(figure["measured"]),
                     _throughput(figure["baseline"]), _percent(figure["ratio"]), _target("P1"), _met(figure["met"])])
        rows += _reference_rows(figure, "P1", "the day written with its next version, kept as a revision and "
                                "audited in one commit")
    if "P2" in figures:
        p2 = figures["P2"]
        for case in CASELOAD_CASES:
            figure = p2["cases"][case]
            patients, days = case.split("x")
            rows.append([f"P2 caseload: {patients} patients x {days} days", _throughput(figure["measured"]),
                         _throughput(figure["baseline"]), _percent(figure["ratio"]),
                         _target("P2") if "target" in figure else "", _met(figure.get("met"))])
            rows += _reference_rows(figure, "P2 caseload 100 x 90", "50 patients' kept figures read in one "
                                    "SELECT and spliced into the page, and the audit row naming them")
        large, small, year = (p2["cases"]["500x90"]["measured"], p2["cases"]["100x90"]["measured"],
                              p2["cases"]["500x365"]["measured"])
        basis = lambda key: "" if p2[key].get("basis", "time").startswith("time") else ", by server CPU/req"  # noqa: E731
        rows.append([f"P2 cost of 500 patients vs 100{basis('size')}", _throughput(large),
                     _throughput(small), _times(p2["size"]["ratio"]), _target("P2.size"), _met(p2["size"]["met"])])
        rows.append([f"P2 a year of history vs 90 days, 500 patients{basis('year')}", _throughput(year),
                     _throughput(large),
                     _times(p2["year"]["ratio"]), _target("P2.year"), _met(p2["year"]["met"])])
        for kind, label in (("kept", "rows as kept"), ("computed", "every row computed")):
            counts = ", ".join(f"{case.replace('x', '×')}: {count}"
                               for case, count in p2["statements"]["counts"][kind].items())
            rows.append([f"P2 SQL statements per caseload request, {label}", counts, "", "",
                         "the same at every size", _met(len(set(p2["statements"]["counts"][kind].values())) == 1)])
        for kind, label in (("kept", "rows as kept"), ("computed", "every row computed")):
            times = ", ".join(f"{case.replace('x', '×')}: {ms:.1f} ms"
                              for case, ms in p2["statements"]["milliseconds"][kind].items())
            rows.append([f"P2 one caseload request in-process, {label}", times, "", "", "", ""])
    if "P3" in figures:
        figure = figures["P3"]
        memory = figure["memory"]
        # Fewer than planned: the budget stopped it (a --quick run plans one).
        planned = figure.get("repetitions_planned", 3)
        times = ("" if figure["repetitions"] >= planned
                 else f", {figure['repetitions']} of {planned} repetitions: over the time budget")
        rows.append([f"P3 weekly figures, {figure['what'].split(' / ')[0].removeprefix('weekly figures for ')}{times}",
                     _seconds(figure["measured"]) + f" ({figure['measured']['per_patient_ms']:.2f} ms/patient)",
                     "full scan " + _seconds(figure["baseline"]), _times(figure["ratio"]), _target("P3"),
                     _met(figure["met"])])
        if figure.get("render_ms_per_email") is not None:
            rows.append(["P3 beside it: rendering one weekly summary e-mail (jobs.emails)",
                         f"{figure['render_ms_per_email']:.2f} ms per e-mail "
                         f"({figure['render_ms_per_email'] * int(figure['what'].split()[3]) / 1000:.1f} s for all)",
                         "", "", "", ""])
        added = memory["added_mb"]
        rows.append(["P3 memory the figures add (peak RSS − RSS before)",
                     f"{added['median']:.0f} MB {_range(added)} at {figure['what'].split()[3]} patients "
                     f"(process peak {memory['process_peak_mb']['median']:.0f} MB)",
                     f"{memory['small_added_mb']:.0f} MB at {memory['small_patients']} patients",
                     f"{memory['growth']:.2f}×", "≤ 100 MB; ≤ 1.2×",
                     _met(memory["met_peak"] and memory["met_growth"])])
    if "P4" in figures:
        figure = figures["P4"]
        rows.append(["P4 offline sync: 90 days in one request", _latency(figure["measured"]),
                     "one PUT " + _latency(figure["baseline"]), _times(figure["ratio"]), _target("P4"),
                     _met(figure["met"])])
    if "P5" in figures:
        figure = figures["P5"]
        rows.append(["P5 check-in p99, shipped config", _p99(figure["measured"]),
                     "plain sync workers " + _p99(figure["baseline"]), _times(figure["ratio"]), _target("P5"),
                     _met(figure["met"])])
    return rows


def _floor_rows(figures: dict) -> list[list[str]]:
    """The floor and /healthz against the bare app; in-process CPU per request and the stages in microseconds."""
    figure = figures["floor"]
    rows = [["Floor: an authenticated, audited read (GET /me/checkins?page_size=1)", _throughput(figure["measured"]),
             _throughput(figure["baseline"]), _percent(figure["ratio"]), _target("floor"), _met(figure.get("met"))]]
    if "healthz" in figures:
        healthz = figures["healthz"]
        rows.append(["/healthz (answered by the gunicorn worker, not Flask)", _throughput(healthz["measured"]),
                     "the bare app", _percent(healthz["ratio"]), "", ""])
    if "promises" in figures:
        reference = figures["promises"]
        rows.append(["The floor's two promises alone: the same request on the same stack, nothing else "
                     "(bench/promises.py)", _throughput(reference["measured"]), _throughput(reference["baseline"]),
                     _percent(reference["ratio"]), "", ""])
        rows.append(["The floor as a share of the promises alone: what Waypoint's own work leaves", "",
                     "the promises alone", _percent(reference["share"]), "", ""])
    for key, label in (("P1", "P1 PUT check-in"), ("P2", "P2 caseload 100 x 90")):
        if key in figure["shares"]:
            rows.append([f"{label} as a share of that floor", "", "the floor", _percent(figure["shares"][key]), "", ""])
    in_process = figure.get("in_process")
    if in_process:
        micros = in_process["micros"]
        base = micros["bare app"]["median"]
        for label, values in micros.items():
            if label != "bare app":
                rows.append([f"In-process CPU per request: {label} (WSGI call, no gunicorn)",
                             f"{values['median']:.0f} µs {_range(values)}", f"bare app {base:.0f} µs",
                             f"{100 * base / values['median']:.1f} %", "", ""])
        for label, stages in in_process["stages"].items():
            shown = "; ".join(f"{stage} {micros_:.0f} µs" for stage, micros_ in stages.items())
            rows.append([f"Where the CPU of one {label} goes (in-process; cProfile shares of the µs above)", shown,
                         "", "", "", ""])
    return rows + holding_rows(figures)


def _reference_rows(figure: dict, label: str, what: str) -> list[list[str]]:
    """A figure's promises alone (bench.promises) against the bare app, and the figure as a share of them."""
    reference = figure.get("promises")
    if reference is None:
        return []
    return [[f"{label}'s promises alone: the session checked, {what}; nothing else (bench/promises.py)",
             _throughput(reference["measured"]), _throughput(reference["baseline"]), _percent(reference["ratio"]),
             "", ""],
            [f"{label} as a share of its promises alone: what Waypoint's own work leaves", "",
             "its promises alone", _percent(reference["share"]), "", ""]]


# The in-process stages' label of each figure a share of the floor is given for.
_STAGES_OF = {"P1": "P1 PUT", "P2": "P2 caseload 100x90"}


def holding_rows(figures: dict) -> list[list[str]]:
    """Name what holds each throughput target this run missed, from this run's own figures.

    The floor: the two promises alone (bench.promises) if they already fall
    short of its target, else its stages other than theirs (the rest holds
    Flask and werkzeug, which the promises pay too). P1 and P2 likewise:
    their own promises alone if those fall short; else the floor, if their
    share of it would meet their target once the floor met its own; else
    their own stages beyond the floor's.
    """
    floor = figures["floor"]
    floor_target = TARGETS["floor"][2]
    stages = floor.get("in_process", {}).get("stages", {})
    rows = []
    if floor.get("met") is False:
        short, held = _promises_reach(figures.get("promises"), floor_target, "the two promises")
        if not short:
            beyond = {stage: micros for stage, micros in stages.get("floor", {}).items()
                      if stage not in PROMISE_STAGES}
            held += "the floor's other stages, largest first: " + _largest(beyond)
        rows.append(["What holds the floor in this run", held, "", "", _target("floor"), ""])
    for key, label in (("P1", "P1"), ("P2", "P2 caseload 100 x 90")):
        figure = figures.get(key)
        if figure is not None and key == "P2":
            figure = figure["cases"]["100x90"]
        if figure is None or figure.get("met") is not False or key not in floor.get("shares", {}):
            continue
        short, held = _promises_reach(figure.get("promises"), TARGETS[key][2], "its promises")
        if not short:
            share = floor["shares"][key]["median"]
            reach = share * floor_target
            held += (f"at {100 * share:.1f} % of the floor, {100 * reach:.1f} % of the bare app once the floor met "
                     "its target: ")
            if reach >= TARGETS[key][2]:
                held += "the floor holds it (above)"
            else:
                own, base = stages.get(_STAGES_OF[key], {}), stages.get("floor", {})
                held += "its own work beyond the floor's holds it, largest first: " + _largest(
                    {stage: micros - base.get(stage, 0.0) for stage, micros in own.items()}, "+")
        rows.append([f"What holds {label} in this run", held, "", "", _target(key), ""])
    return rows


def _promises_reach(reference: dict | None, target: float, whose: str) -> tuple[bool, str]:
    """Say whether a figure's promises alone (bench.promises) fall short of its target, and how far they reach.

    Short: the whole of what holds the figure. Else the start of it, or
    nothing where no reference ran.
    """
    if reference is None:
        return False, ""
    reach = reference["ratio"]["median"]
    if reach < target:
        return True, (f"{whose} alone reach {100 * reach:.1f} % of the bare app: "
                      "short of the target before any of Waypoint's own work")
    return False, f"{whose} alone reach {100 * reach:.1f} %; "


def _largest(stages: dict[str, float], sign: str = "", count: int = 3) -> str:
    shown = sorted(((micros, stage) for stage, micros in stages.items() if micros > 0), reverse=True)[:count]
    return "; ".join(f"{stage} {sign}{micros:.0f} µs" for micros, stage in shown) or "no stage measured"


def _range(values: dict, digits: int = 0) -> str:
    return f"[{values['min']:.{digits}f}–{values['max']:.{digits}f}]"


def _cpu(values: dict) -> str:
    cpu, idle, p99 = values.get("cpu_ms_per_request"), values.get("idle_cores"), values.get("p99_ms")
    # The p99 says what a load's waits cost the one who waits; the idle cores, what they cost the machine.
    return (f", {cpu:.2f} ms CPU/req" if cpu is not None else "") + (
        f", {idle:.2f} of {os.cpu_count()} cores idle" if idle is not None else "") + (
        f", p99 {p99:.1f} ms" if p99 is not None else "")


def _throughput(values: dict) -> str:
    few = values.get("fewest_requests")
    thin = f" (only {few} requests finished in a window)" if few is not None and few < 2 * values["in_flight"] else ""
    digits = 1 if values["median"] < 10 else 0
    return f"{values['median']:.{digits}f} req/s {_range(values, digits)}{_cpu(values)}{thin}"


def _latency(values: dict) -> str:
    return f"{values['median']:.1f} ms {_range(values, 1)}{_cpu(values)}"


def _p99(values: dict) -> str:
    return (f"{values['median']:.1f} ms {_range(values, 1)} at {values['throughput']:.0f} req/s"
            f"{_cpu(values)}")


def _seconds(values: dict) -> str:
    return f"{values['median']:.2f} s {_range(values, 2)}"


def _percent(ratio: dict) -> str:
    return f"{100 * ratio['median']:.1f} % [{100 * ratio['min']:.1f}–{100 * ratio['max']:.1f}]"


def _times(ratio: dict) -> str:
    return f"{ratio['median']:.2f}× [{ratio['min']:.2f}–{ratio['max']:.2f}]"


def _target(key: str) -> str:
    _unit, operator, limit = TARGETS[key]
    symbol = "≥" if operator == ">=" else "≤"
    if key == "P1":
        return f"{symbol} {100 * limit:.0f} % (aim {100 * P1_AIM:.0f} %)"
    if key in ("P2", "floor"):
        return f"{symbol} {100 * limit:.0f} %"
    return f"{symbol} {limit:g}×"


def _met(value) -> str:
    if value is None:
        return ""
    return "yes" if value else "**no**"
