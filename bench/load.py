"""Load generators: wrk when installed, else a Python one (threads, keep-alive).

Both run a closed loop: a fixed number of connections, each sending its next
request as soon as the previous answer is in. Both report completed requests,
failures (a status outside 2xx or a socket error) and latency percentiles.
"""
import http.client
import itertools
import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class LoadResult:
    """What one timed load produced."""

    requests: int
    seconds: float
    failures: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    # Server CPU from the start of the load until the server was idle again:
    # the completed requests plus the ones in flight when the clock stopped
    # (one per connection), which the server still finished.
    server_cpu_s: float = 0.0
    in_flight: int = 0
    # The machine's cores left idle during the load (waiting on the disk
    # included): a figure far from the CPU's limit is held by a wait, not by work.
    idle_cores: float | None = None

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float | None:
        served = self.requests + self.failures + self.in_flight
        return 1000 * self.server_cpu_s / served if served else None

    def to_dict(self) -> dict:
        return {"requests": self.requests, "seconds": round(self.seconds, 3), "failures": self.failures,
                "throughput": round(self.throughput, 1), "p50_ms": round(self.p50_ms, 2),
                "p90_ms": round(self.p90_ms, 2), "p99_ms": round(self.p99_ms, 2),
                "max_ms": round(self.max_ms, 2), "server_cpu_s": round(self.server_cpu_s, 3),
                "in_flight": self.in_flight,
                "idle_cores": None if self.idle_cores is None else round(self.idle_cores, 2),
                "cpu_ms_per_request": None if self.cpu_ms_per_request is None
                else round(self.cpu_ms_per_request, 3)}


@dataclass
class Get:
    """The same GET again and again, optionally authenticated."""

    path: str
    token: str | None = field(default=None, repr=False)

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@dataclass
class CheckinWrites:
    """Authenticated check-in PUTs, each one a real write.

    Requests walk through (patient, day) slots, patients fastest, starting at
    `next_slot`: a slot's first visit creates the day, a later one (after
    the slots wrapped around) rewrites it with a body that differs from the
    stored one, under `If-Match: *`, so no request is an "unchanged" no-op.
    (A first visit sends no If-Match: `*` on a day without a check-in is 412.)
    """

    tokens: list[str] = field(repr=False)
    days: list[str] = field(repr=False)  # ISO dates inside the late-entry window, newest first
    next_slot: int = 0

    def slot(self, number: int) -> tuple[str, str, int]:
        """Return (token, day, visit) for request number (0-based) of the whole run."""
        count = len(self.tokens) * len(self.days)
        position = number % count
        return (self.tokens[position % len(self.tokens)], self.days[position // len(self.tokens)],
                number // count + 1)

    @staticmethod
    def headers(token: str, visit: int) -> dict:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        if visit > 1:
            headers["If-Match"] = "*"
        return headers

    @staticmethod
    def body(visit: int, number: int) -> str:
        return json.dumps({
            "craving": 2 + visit % 2, "mood": 6, "sleep_hours": 7.5, "sleep_quality": 4,
            "used_substance": False, "coping_skills": ["mindfulness", "reached_out"],
            "triggers": ["stress"], "medication_taken": True, "note": f"Benchmark day {number}.",
        })


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


class LoadGenerator:
    """Run timed loads against one host with wrk or, failing that, Python threads."""

    def __init__(self, work_dir: Path, connections: int, prefer_wrk: bool = True):
        self.work_dir = work_dir
        self.connections = connections
        self.use_wrk = prefer_wrk and wrk_available()

    @property
    def name(self) -> str:
        if self.use_wrk:
            version = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
            first = (version.stdout or version.stderr).strip().splitlines()[:1]
            return (first[0].split(" [")[0] if first else "wrk") + f", 1 thread, {self.connections} connections"
        return f"python http.client, {self.connections} threads with keep-alive"

    def run(self, host: str, plan, seconds: float, connections: int | None = None) -> LoadResult:
        connections = connections or self.connections
        if self.use_wrk:
            result = self._run_wrk(host, plan, seconds, connections)
        else:
            result = self._run_python(host, plan, seconds, connections)
        result.in_flight = connections
        if isinstance(plan, CheckinWrites):
            # Past the requests in flight when the clock stopped, too: the next
            # run must not resend one of them (that would be "unchanged").
            plan.next_slot += result.requests + result.failures + connections
        return result

    # --- wrk ---------------------------------------------------------------

    def _run_wrk(self, host: str, plan, seconds: float, connections: int) -> LoadResult:
        script = self.work_dir / f"wrk-{id(plan)}.lua"
        if isinstance(plan, CheckinWrites):
            script.write_text(_checkin_lua(plan))
            path, args = "/", ["--", str(plan.next_slot)]
        else:
            script.write_text(_get_lua(plan))
            path, args = plan.path, []
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
                   "-s", str(script), f"http://{host}{path}", *args]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        for line in completed.stdout.splitlines():
            if line.startswith("WRKJSON "):
                raw = json.loads(line[len("WRKJSON "):])
                break
        else:
            raise RuntimeError(f"wrk gave no result:\n{completed.stdout}\n{completed.stderr}")
        socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
        return LoadResult(
            requests=raw["requests"] - raw["status"], seconds=raw["duration_us"] / 1e6,
            failures=raw["status"] + socket_errors, p50_ms=raw["p50_us"] / 1000,
            p90_ms=raw["p90_us"] / 1000, p99_ms=raw["p99_us"] / 1000, max_ms=raw["max_us"] / 1000,
        )

    # --- Python ------------------------------------------------------------

    def _run_python(self, host: str, plan, seconds: float, connections: int) -> LoadResult:
        address, port = host.split(":")
        counter = itertools.count(plan.next_slot if isinstance(plan, CheckinWrites) else 0)
        latencies: list[list[float]] = [[] for _ in range(connections)]
        failures = [0] * connections
        start = time.perf_counter()
        deadline = start + seconds

        def request_for(number: int):
            if isinstance(plan, CheckinWrites):
                token, day, visit = plan.slot(number)
                return ("PUT", f"/api/v1/me/checkins/{day}", CheckinWrites.body(visit, number),
                        CheckinWrites.headers(token, visit))
            return "GET", plan.path, None, plan.headers()

        def client(index: int) -> None:
            connection = http.client.HTTPConnection(address, int(port), timeout=30)
            while time.perf_counter() < deadline:
                method, path, body, headers = request_for(next(counter))
                sent = time.perf_counter()
                try:
                    connection.request(method, path, body=body, headers=headers)
                    response = connection.getresponse()
                    response.read()
                    ok = 200 <= response.status < 400
                except (OSError, http.client.HTTPException):
                    connection.close()
                    ok = False
                if ok:
                    latencies[index].append(time.perf_counter() - sent)
                else:
                    failures[index] += 1
            connection.close()

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        every = sorted(itertools.chain.from_iterable(latencies))

        def percentile(share: float) -> float:
            return 1000 * every[min(len(every) - 1, int(share * len(every)))] if every else 0.0

        return LoadResult(requests=len(every), seconds=elapsed, failures=sum(failures),
                          p50_ms=percentile(0.50), p90_ms=percentile(0.90), p99_ms=percentile(0.99),
                          max_ms=1000 * every[-1] if every else 0.0)


_WRK_DONE = r'''
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(90)),
    math.floor(latency:percentile(99)), math.floor(latency.max)))
end
'''


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII is a valid Lua string literal


def _get_lua(plan: Get) -> str:
    lines = ['wrk.method = "GET"']
    for name, value in plan.headers().items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    return "\n".join(lines) + "\n" + _WRK_DONE


def _checkin_lua(plan: CheckinWrites) -> str:
    tokens = ",\n".join(_lua_string(token) for token in plan.tokens)
    days = ", ".join(_lua_string(day) for day in plan.days)
    # The body mirrors CheckinWrites.body; the visit number flips craving
    # between 2 and 3, so a rewrite always changes the stored day.
    return f'''
local tokens = {{
{tokens}
}}
local days = {{ {days} }}
local number = 0
init = function(args)
  number = tonumber(args[1]) or 0
end
request = function()
  local count = #tokens * #days
  local position = number % count
  local token = tokens[position % #tokens + 1]
  local day = days[math.floor(position / #tokens) + 1]
  local visit = math.floor(number / count) + 1
  local body = string.format(
    '{{"craving": %d, "mood": 6, "sleep_hours": 7.5, "sleep_quality": 4, "used_substance": false, ' ..
    '"coping_skills": ["mindfulness", "reached_out"], "triggers": ["stress"], ' ..
    '"medication_taken": true, "note": "Benchmark day %d."}}', 2 + visit % 2, number)
  number = number + 1
  local headers = {{
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }}
  if visit > 1 then
    headers["If-Match"] = "*"
  end
  return wrk.format("PUT", "/api/v1/me/checkins/" .. day, headers, body)
end
''' + _WRK_DONE
