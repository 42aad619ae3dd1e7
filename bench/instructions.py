"""Instructions per request, in-process, counted by callgrind: the same count however busy the machine is.

Wall-clock and CPU figures on a shared 2-core machine move by tens of
percent from one minute to the next; an instruction count does not. Use it
to measure one change before and after (bench/callgrind.sh runs it):

    .venv/bin/python -m bench.instructions build /tmp/clinic.db /tmp/clinic.json   # once, about a minute
    bash bench/callgrind.sh /tmp/clinic.db /tmp/clinic.json floor 100

Kinds: bare (the baseline app), healthz, floor, p1 (check-in PUTs, the P1
load's order), p2 (the 100 x 90 caseload), and promises / promises-stock:
the floor's request answered by bench.promises, the floor's two promises on
the same stack and nothing else (with Waypoint's token manager / with
flask-jwt-extended's own); promises-p1 and promises-p2: P1's and P2's
requests answered by bench.promises. Only the measured requests are
counted: callgrind starts and stops around them through a two-line C shim
built here with gcc against valgrind's callgrind.h.
"""
import argparse
import ctypes
import json
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from . import data, floor, promises

# The kinds by their short names, as bench.floor labels them.
KINDS = {"bare": "bare app", "healthz": "/healthz (through Flask)", "floor": "floor", "p1": "P1 PUT",
         "p2": "P2 caseload 100x90"}
# The references (bench.promises) by kind: the kind whose requests each answers.
PROMISES = {"promises": "floor", "promises-stock": "floor", "promises-p1": "p1", "promises-p2": "p2"}
_SHIM = """#include <valgrind/callgrind.h>
void start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void stop(void) { CALLGRIND_DUMP_STATS; CALLGRIND_STOP_INSTRUMENTATION; }
"""


def _shim() -> ctypes.CDLL:
    folder = Path(tempfile.mkdtemp(prefix="waypoint-callgrind-"))
    (folder / "shim.c").write_text(_SHIM)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(folder / "shim.so"), str(folder / "shim.c")],
                   check=True)
    return ctypes.CDLL(str(folder / "shim.so"))


def build(database: Path, clinic: Path) -> None:
    """Build the bench's clinic in a SQLite file and write its secret and logins beside it."""
    secret = data.new_secret()
    logins = data.build_clinic(f"sqlite:///{database}", secret, datetime.now(timezone.utc), writers=200, fresh=50)
    clinic.write_text(json.dumps({"secret": secret, "logins": logins.to_dict()}))


def count(database: Path, clinic: Path, kind: str, requests: int) -> None:
    """Send `requests` requests of one kind with callgrind counting only them (run under valgrind)."""
    settings = json.loads(clinic.read_text())
    url = f"sqlite:///{database}"
    if kind in PROMISES:
        reference = promises.create_app(url, settings["secret"], waypoint_tokens=kind != "promises-stock")
        app, send = floor.clinic_kinds(reference, settings["logins"])[KINDS[PROMISES[kind]]]  # as sent to Waypoint
    else:
        # Without the process's mail sender: its first look at the outbox (once
        # per process, started by the first request) ran in the counted window or
        # not, as the thread happened to be scheduled under valgrind: a
        # difference of up to 0.15 M instructions per request between two runs.
        app, send = floor.clinic_kinds(data.bench_app(url, settings["secret"], OUTBOX_SENDER=False),
                                       settings["logins"])[KINDS[kind]]
    shim = _shim()
    for _ in range(30):  # imports, the pool, kept rows; and every kind must answer, not refuse
        floor.checked(send(app))
    shim.start()
    for _ in range(requests):
        send(app)
    shim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    building = commands.add_parser("build", help="build a clinic to count on")
    building.add_argument("database", type=Path)
    building.add_argument("clinic", type=Path)
    counting = commands.add_parser("count", help="the measured requests (bench/callgrind.sh runs this)")
    counting.add_argument("database", type=Path)
    counting.add_argument("clinic", type=Path)
    counting.add_argument("kind", choices=(*KINDS, *PROMISES))
    counting.add_argument("requests", type=int)
    args = parser.parse_args()
    if args.command == "build":
        build(args.database, args.clinic)
    else:
        count(args.database, args.clinic, args.kind, args.requests)


if __name__ == "__main__":
    main()
