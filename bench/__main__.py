"""`python -m bench`: build the data, start gunicorn, measure P1-P5, print the table.

Run it from the repository root with the project's virtualenv, e.g.
`.venv/bin/python -m bench` (both databases, about 10 minutes on 2 cores),
`python -m bench --quick --db sqlite` (a smoke run: not figures to quote) or
`python -m bench --only P1,P5`. Results go to bench/results/latest.json.
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from . import data
from .figures import DatabaseRun
from .load import LoadGenerator
from .report import machine_info, print_table, shipped_config, write_json
from .server import ROOT, Server
from .settings import Settings

FIGURES = ("P1", "P2", "P3", "P4", "P5")
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--only", default=",".join(FIGURES),
                        help="comma-separated figures to measure, e.g. P1,P2 (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="one short repetition on small data: checks the harness, not for quoting")
    parser.add_argument("--seconds", type=float, help="length of each timed load (default 6, quick 2)")
    parser.add_argument("--repetitions", type=int, help="repetitions per figure (default 3, quick 1)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections of each load (default 8)")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator even if wrk is here")
    parser.add_argument("--postgres-url", default=os.environ.get("WAYPOINT_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
                        help="a PostgreSQL server the harness may create and drop databases on")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    args = parser.parse_args(argv)
    args.only = {name.strip().upper() for name in args.only.split(",") if name.strip()}
    unknown = args.only - set(FIGURES)
    if unknown:
        parser.error(f"unknown figures {sorted(unknown)}; choose from {', '.join(FIGURES)}")
    return args


def settings_for(args: argparse.Namespace) -> Settings:
    settings = Settings(connections=args.connections)
    if args.quick:
        settings = Settings(seconds=2, warmup_seconds=1, repetitions=1, connections=args.connections,
                            weekly_patients=1000, weekly_small=100, p4_puts=5, p4_syncs=1, writers=200)
    if args.seconds:
        settings.seconds = args.seconds
    if args.repetitions:
        settings.repetitions = args.repetitions
    return settings


class _Stop(Exception):
    """SIGTERM, turned into an exception so that every finally block runs."""


def _on_sigterm(_signum, _frame):
    raise _Stop()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    settings = settings_for(args)
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}", flush=True)

    signal.signal(signal.SIGTERM, _on_sigterm)
    # Even when started in the background, where a shell ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    work_dir = Path(tempfile.mkdtemp(prefix="waypoint-bench-"))
    servers: list[Server] = []
    databases: list[str] = []  # PostgreSQL databases to drop
    notes: list[str] = []
    runs: list[DatabaseRun] = []
    loadgen = LoadGenerator(work_dir, settings.connections, prefer_wrk=not args.python_load)
    print(f"Waypoint benchmarks: {', '.join(sorted(args.only))} on {args.db}; load generator: {loadgen.name}")
    if not loadgen.use_wrk and not args.python_load:
        print("  (wrk is not installed: `apt-get install -y wrk` gives steadier figures)")
    try:
        kinds = ["sqlite", "postgresql"] if args.db == "both" else ["postgresql" if args.db == "postgres" else "sqlite"]
        if "postgresql" in kinds:
            why = data.postgres_reachable(args.postgres_url)
            if why:
                notes.append(f"PostgreSQL was not measured: {why}")
                print(f"!!! PostgreSQL at {args.postgres_url} is not reachable ({why}); measuring SQLite only.")
                kinds.remove("postgresql")
        if not kinds:
            return 1
        secret = data.new_secret()
        now = datetime.now(timezone.utc)
        needs_clinic = bool(args.only & {"P1", "P2", "P4", "P5"})
        clinic_path = work_dir / "clinic.db"
        logins = None
        clinic_urls: dict[str, str | None] = dict.fromkeys(kinds)
        if needs_clinic:
            progress("building the clinic in SQLite")
            logins = data.build_clinic(f"sqlite:///{clinic_path}", secret, now, settings.writers,
                                       settings.fresh_patients, progress=progress)
            if "postgresql" in kinds:
                name = f"waypoint_bench_{os.getpid()}"
                databases.append(name)
                url = data.create_database(args.postgres_url, name)
                progress(f"copying the clinic into PostgreSQL database {name}")
                rows = data.copy_sqlite_to_postgres(str(clinic_path), url, secret)
                progress(f"  {rows} rows copied")
                clinic_urls["postgresql"] = url
            if "sqlite" in kinds:
                clinic_urls["sqlite"] = f"sqlite:///{clinic_path}"
        for kind in kinds:
            weekly_url = None
            if "P3" in args.only:
                progress(f"[{kind}] building the weekly set: {settings.weekly_patients} patients x "
                         f"{settings.weekly_days} days")
                if kind == "sqlite":
                    weekly_url = f"sqlite:///{work_dir / 'weekly.db'}"
                else:
                    name = f"waypoint_bench_{os.getpid()}_weekly"
                    databases.append(name)
                    weekly_url = data.create_database(args.postgres_url, name)
                begun = time.monotonic()
                rows = data.build_weekly(weekly_url, secret, settings.weekly_patients, settings.weekly_days,
                                         now, progress=progress)
                progress(f"  {rows} check-ins in {time.monotonic() - begun:.0f} s")
            run = DatabaseRun(name=kind, main_url=clinic_urls[kind], weekly_url=weekly_url, settings=settings,
                              loadgen=loadgen, logins=logins, jwt_secret=secret, log_dir=work_dir,
                              only=args.only, servers=servers, progress=progress)
            runs.append(run)
            for phase in (run.run_http, run.run_weekly):
                try:
                    phase()
                except Exception as error:  # noqa: BLE001 - report it, measure the rest
                    traceback.print_exc()
                    notes.append(f"{kind}: {phase.__name__} failed: {str(error).splitlines()[0]}")
                    for server in servers:
                        if server.process is not None:
                            print(f"--- end of the gunicorn log ({server.label}) ---\n{server.log_tail()}",
                                  file=sys.stderr)
                        server.stop()
            # The weekly set is large (millions of rows): drop it as soon as it has served.
            if weekly_url and kind == "postgresql":
                data.drop_database(args.postgres_url, databases.pop())
            elif weekly_url:
                for path in work_dir.glob("weekly.db*"):
                    path.unlink()
        if args.quick:
            notes.append("--quick: one short repetition on small data; these figures are not for quoting.")
        report = {
            "machine": machine_info(args.postgres_url if "postgresql" in kinds else None, loadgen.name, work_dir),
            "settings": {**vars(settings), "quick": args.quick, "only": sorted(args.only), "db": args.db},
            "gunicorn": {kind: shipped_config(clinic_urls[kind] or f"{kind}://") for kind in kinds},
            "databases": {run.name: {"figures": run.results, "raw": run.raw} for run in runs},
            "notes": notes,
            "wall_seconds": round(time.monotonic() - started, 1),
        }
        print_table(report)
        write_json(args.output, report)
        print(f"\nWrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}"
              f" ({report['wall_seconds']:.0f} s)")
        return 0
    except (KeyboardInterrupt, _Stop):
        print("\nInterrupted: stopping what the harness started.", file=sys.stderr)
        return 130
    finally:
        for server in servers:
            server.stop()
        for name in databases:
            try:
                data.drop_database(args.postgres_url, name)
            except Exception as error:  # noqa: BLE001 - cleanup must go on
                print(f"could not drop database {name}: {error}", file=sys.stderr)
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
