"""The app under gunicorn with the shipped gunicorn.conf.py, for tests that need real processes.

`running(...)` starts one master per label on a port the system picks, waits
until each answers, yields them, and stops them whatever happens. Each master
runs one worker, so one port is one process.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Generous: two cores shared by the whole suite, and a worker imports the whole app.
STARTUP_SECONDS = 30
# A developer's own shell settings that would change what the server does; a test sets what it needs.
DEVELOPER_SETTINGS = ("SMTP_URL", "LOG_FORMAT", "GUNICORN_ACCESS_LOG", "REDIS_URL", "WAYPOINT_ENV", "JWT_SECRET_KEY")


@dataclass
class Answer:
    status: int
    headers: Message
    body: dict | None


@dataclass
class Server:
    """One gunicorn master and its one worker."""

    label: str
    popen: subprocess.Popen
    log_path: Path
    port: int | None = None

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None,
             timeout: float = 15) -> Answer:
        """Send one request; a JSON answer's body comes back parsed."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            sent = dict(headers or {})
            payload = None
            if body is not None:
                payload = json.dumps(body)
                sent["Content-Type"] = "application/json"
            connection.request(method, path, body=payload, headers=sent)
            response = connection.getresponse()
            data = response.read()
            parsed = json.loads(data) if data and "json" in (response.getheader("Content-Type") or "") else None
            return Answer(response.status, response.headers, parsed)
        finally:
            connection.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_lines(self) -> list[str]:
        """Return the complete lines written so far (stdout and stderr together)."""
        return self.log_text().split("\n")[:-1]


def environment(**settings: str) -> dict[str, str]:
    """Return this process's environment without a developer's settings, for one worker on a free port."""
    chosen = {name: value for name, value in os.environ.items() if name not in DEVELOPER_SETTINGS}
    chosen.update({"GUNICORN_BIND": "127.0.0.1:0", "WEB_CONCURRENCY": "1"})
    chosen.update(settings)
    return chosen


def start(label: str, settings: dict[str, str], log_path: Path, app_spec: str = "api:create_app()") -> Server:
    """Start one gunicorn master; it writes everything to log_path."""
    with open(log_path, "wb") as log:
        # The child holds its own copy of the file descriptor.
        popen = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), app_spec],
            cwd=ROOT, env=settings, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own process group: a kill reaches the worker too
    return Server(label, popen, log_path)


def wait_until_ready(server: Server, deadline: float, path: str = "/readyz", status: int = 200) -> None:
    """Learn the port the master bound (port 0: the system's choice), then wait until path answers status."""
    while time.monotonic() < deadline and server.popen.poll() is None:
        if server.port is None:
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", server.log_text())
            server.port = int(found.group(1)) if found else None
        if server.port is not None:
            try:
                if server.call("GET", path, timeout=5).status == status:
                    return
            except OSError:
                pass  # the worker is still booting
        time.sleep(0.1)
    tail = "\n".join(server.log_text().splitlines()[-30:])
    pytest.fail(f"gunicorn {server.label} did not become ready:\n{tail}")


def stop(servers: list[Server]) -> None:
    """Stop every server, all at once: gunicorn's graceful stop of master and worker, then a kill."""
    for server in servers:
        if server.popen.poll() is None:
            server.popen.send_signal(signal.SIGTERM)
    for server in servers:
        try:
            server.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.popen.pid, signal.SIGKILL)
            server.popen.wait()


@contextmanager
def running(settings: dict[str, str], folder: Path, labels: tuple[str, ...] = ("app",),
            app_spec: str = "api:create_app()", ready_path: str = "/readyz",
            ready_status: int = 200) -> Iterator[list[Server]]:
    """Start one server per label (logs in folder/<label>.log), wait until all answer, stop them on leaving."""
    started: list[Server] = []
    try:
        for label in labels:
            started.append(start(label, settings, folder / f"{label}.log", app_spec))
        deadline = time.monotonic() + STARTUP_SECONDS
        for server in started:
            wait_until_ready(server, deadline, ready_path, ready_status)
        yield started
    finally:
        stop(started)
