"""The app under gunicorn on a free loopback port, and what its processes cost."""
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """Return a loopback port nobody listens on (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


WAYPOINT_APP = "api:create_app()"


class Server:
    """`gunicorn -c gunicorn.conf.py "api:create_app()"` (or another app), started and stopped by the harness."""

    def __init__(self, database_url: str, jwt_secret: str, log_dir: Path, label: str,
                 extra_args: tuple[str, ...] = (), app: str = WAYPOINT_APP):
        self.app = app
        self.database_url = database_url
        self.jwt_secret = jwt_secret
        self.label = label
        self.extra_args = extra_args
        self.port = free_port()
        self.log_path = log_dir / f"gunicorn-{label}.log"
        self.process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "Server":
        env = dict(os.environ, DATABASE_URL=self.database_url, JWT_SECRET_KEY=self.jwt_secret)
        env.pop("WAYPOINT_TEST_DATABASE_URL", None)
        command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                   "--bind", self.host, *self.extra_args, self.app]
        # A session of its own, so a Ctrl-C meant for the harness reaches
        # gunicorn only through stop(), and stop() can end the whole group.
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn ({self.label}) exited with {self.process.returncode}:\n"
                                   + self.log_tail())
            if self._healthy():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn ({self.label}) did not answer /healthz in {timeout:.0f} s:\n"
                           + self.log_tail())

    def _healthy(self) -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            connection.request("GET", "/healthz")
            ok = connection.getresponse().status == 200
            connection.close()
            return ok
        except OSError:
            return False

    def stop(self) -> None:
        """Stop gunicorn gracefully, then by force; safe to call twice."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def worker_pids(self) -> list[int]:
        return _children(self.process.pid) if self.process else []

    def cpu_seconds(self) -> float:
        """CPU time of the master and its workers so far, user plus system.

        A worker that exited was reaped by the master, so its time is in the
        master's cutime/cstime: a restart loses nothing.
        """
        if self.process is None:
            return 0.0
        master = self.process.pid
        total = sum(_stat_times(master, with_children=True))
        for pid in _children(master):
            total += sum(_stat_times(pid, with_children=False))
        return total / _CLOCK_TICKS


def machine_idle_seconds() -> float:
    """Return the seconds all cores have spent idle or waiting on the disk since boot (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    # cpu user nice system idle iowait ...
    return (int(fields[4]) + int(fields[5])) / _CLOCK_TICKS


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        raw = stat.read()
    # The command name is in parentheses and may hold spaces.
    return raw[raw.rindex(")") + 2:].split()


def _stat_times(pid: int, with_children: bool) -> tuple[int, ...]:
    try:
        fields = _stat_fields(pid)
    except (OSError, ValueError):
        return (0,)
    # After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    times: tuple[int, ...] = (int(fields[11]), int(fields[12]))
    if with_children:
        times += (int(fields[13]), int(fields[14]))
    return times


def _children(parent: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if int(_stat_fields(int(entry))[1]) == parent:
                pids.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return pids
