"""SQLite's writers queue on a turn (api/writer_turn.py): handed on at once, bounded, never left behind.

The turn only orders writers; SQLite's own lock keeps them correct
(tests/test_sqlite_processes.py). These tests hold the turn in another
thread or another process and watch who waits, for how long, and that
every way out of a request gives the turn back.
"""
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from api import writer_turn as turns
from api.writer_turn import WriterTurn, writer_turn
from models import AuditEvent, Checkin, db
from tests.factories import checkin_body, problem

DAY = "2026-11-23"
# A process that takes the file lock of a turn, says so, and holds it until its stdin closes.
_HOLDER = """
import fcntl, os, sys
lock = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(lock, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def sqlite_only(database_url):
    if make_url(database_url).get_backend_name() != "sqlite":
        pytest.skip("the turn queues SQLite's one writer; PostgreSQL writers lock rows")


@pytest.fixture
def short_wait(monkeypatch):
    monkeypatch.setattr(turns, "TURN_WAIT_SECONDS", 0.3)


class OtherProcess:
    """Another process holding a turn's file lock until stopped (or killed)."""

    def __init__(self, lock_path: str):
        self.process = subprocess.Popen([sys.executable, "-c", _HOLDER, lock_path], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "held"

    def stop(self) -> None:
        if not self.process.stdin.closed:
            self.process.stdin.close()
        self.process.wait(timeout=10)
        self.process.stdout.close()

    def kill(self) -> None:
        self.process.kill()
        self.stop()


@pytest.fixture
def other_process():
    started: list[OtherProcess] = []

    def start(lock_path: str) -> OtherProcess:
        started.append(OtherProcess(lock_path))
        return started[-1]

    yield start
    for holder in started:
        holder.stop()


def held_elsewhere_for(turn: WriterTurn, seconds: float) -> threading.Thread:
    """Hold the turn in another thread of this process for a while; return once it is held."""
    taken = threading.Event()

    def hold():
        with turn.holding():
            taken.set()
            time.sleep(seconds)

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(5)
    return thread


def can_be_taken_at_once(turn: WriterTurn) -> bool:
    """Tell whether another thread gets the turn within half a second.

    It gives the turn back at once; a thread that had to wait takes it (and gives it back) later.
    """
    taken = threading.Event()

    def take():
        with turn.holding():
            taken.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    if not taken.wait(0.5):
        return False
    thread.join(5)
    return True


# --- the turn itself ----------------------------------------------------------------------

def test_a_thread_waits_for_the_turn_until_the_holder_gives_it(tmp_path):
    turn = WriterTurn(str(tmp_path / "db-turn"))
    holder = held_elsewhere_for(turn, 0.3)
    started = time.monotonic()
    with turn.holding():
        waited = time.monotonic() - started
    holder.join()
    assert 0.2 < waited < 2


def test_the_holder_may_take_the_turn_again_and_gives_it_on_its_last_give(tmp_path):
    turn = WriterTurn(str(tmp_path / "db-turn"))
    with turn.holding():
        with turn.holding():  # a write request's own audit row, say
            assert turn.held()
        assert turn.held()
        assert not can_be_taken_at_once(turn)
    assert not turn.held()
    assert can_be_taken_at_once(turn)


def test_a_turn_held_by_another_process_is_waited_for_then_taken(tmp_path, other_process):
    lock_path = str(tmp_path / "db-turn")
    holder = other_process(lock_path)
    threading.Timer(0.3, holder.stop).start()
    turn = WriterTurn(lock_path)
    started = time.monotonic()
    with turn.holding():
        waited = time.monotonic() - started
    assert 0.2 < waited < 5


def test_a_turn_held_past_the_wait_is_sqlite_busy_and_leaves_the_process_free(tmp_path, other_process, short_wait):
    lock_path = str(tmp_path / "db-turn")
    holder = other_process(lock_path)
    turn = WriterTurn(lock_path)
    started = time.monotonic()
    with pytest.raises(OperationalError) as refused:
        turn.take()
    assert 0.25 < time.monotonic() - started < 3
    assert refused.value.orig.sqlite_errorname == "SQLITE_BUSY"  # what api.errors answers with 503
    assert "another process" in str(refused.value.orig)
    assert not turn.held()
    holder.stop()
    assert can_be_taken_at_once(turn)


def test_a_killed_holder_leaves_no_turn_behind(tmp_path, other_process):
    lock_path = str(tmp_path / "db-turn")
    other_process(lock_path).kill()
    assert can_be_taken_at_once(WriterTurn(lock_path))


def test_a_forked_child_does_not_share_its_parents_turn(tmp_path, short_wait):
    # A flock belongs to the open file, which a child inherits: on the
    # parent's, both would hold the turn at once.
    turn = WriterTurn(str(tmp_path / "db-turn"))
    turns._turns["forked-test"] = turn  # as writer_turn() keeps them: the fork hook sees it
    try:
        with turn.holding():
            child = os.fork()
            if child == 0:  # the child: exit 0 only if it finds the turn taken by another process
                try:
                    turn.take()
                except OperationalError as error:
                    os._exit(0 if "another process" in str(error.orig) else 2)
                os._exit(1)
            _, status = os.waitpid(child, 0)
    finally:
        del turns._turns["forked-test"]
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_turn_whose_file_cannot_be_opened_still_queues_this_processs_threads(tmp_path, monkeypatch, caplog):
    turn = WriterTurn(str(tmp_path / "db-turn"))
    real_open = os.open

    def refused(path, *args, **kwargs):
        if str(path).endswith("-turn"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refused)
    with turn.holding():
        assert not can_be_taken_at_once(turn)
    assert can_be_taken_at_once(turn)
    assert "cannot be opened" in caplog.text


def test_each_sqlite_file_has_one_turn_beside_it_and_a_database_in_memory_none_on_disk(app, sqlite_only):
    turn = writer_turn(db.engine)
    assert turn is writer_turn(db.engine)
    assert turn.lock_path == os.path.abspath(make_url(str(db.engine.url)).database) + "-turn"
    from sqlalchemy import create_engine
    assert writer_turn(create_engine("sqlite://")).lock_path is None


# --- requests ----------------------------------------------------------------------------

def test_a_check_in_put_checks_its_token_and_body_before_it_takes_the_turn(client, make, driver_statements):
    auth = make.headers(make.patient())
    driver_statements.clear()
    assert client.put(f"/api/v1/me/checkins/{DAY}", headers=auth, json=checkin_body()).status_code == 201

    statements = [statement.split()[0] for statement in driver_statements if not statement.startswith("PRAGMA")]
    begun = statements.index("BEGIN")
    assert statements[:begun] == ["SELECT"]  # the token's session, before the turn
    assert "INSERT" in statements[begun:] and statements[-1] == "COMMIT"

    # A body refused by its schema never takes the turn: its audit row is the one write, committing itself.
    driver_statements.clear()
    assert client.put(f"/api/v1/me/checkins/{DAY}", headers=auth, json={"craving": "high"}).status_code == 422
    assert [statement.split()[0] for statement in driver_statements if not statement.startswith("PRAGMA")] \
        == ["SELECT", "INSERT"]


def test_a_check_in_put_gives_the_turn_back_however_it_ends(app, client, make, clock, sqlite_only, monkeypatch):
    from api.resources import checkins as resource

    turn = writer_turn(db.engine)
    auth = make.headers(make.patient())
    answers = [client.put(f"/api/v1/me/checkins/{DAY}", headers=auth, json=checkin_body()).status_code]
    answers.append(client.put(f"/api/v1/me/checkins/{DAY}", headers={**auth, "If-Match": "*"},
                              json=checkin_body(craving=7)).status_code)
    answers.append(client.put(f"/api/v1/me/checkins/{DAY}", headers={**auth, "If-Match": '"1"'},
                              json=checkin_body(craving=8)).status_code)  # stale
    answers.append(client.put("/api/v1/me/checkins/2026-12-30", headers=auth,
                              json=checkin_body()).status_code)  # refused inside, under the turn
    clock.now += timedelta(days=3)
    answers.append(client.put(f"/api/v1/me/checkins/{DAY}", headers={**auth, "If-Match": "*"},
                              json=checkin_body(craving=9)).status_code)  # past the edit window
    monkeypatch.setattr(resource, "record_checkin", lambda *args: 1 / 0)
    answers.append(client.put(f"/api/v1/me/checkins/{DAY}", headers=auth, json=checkin_body()).status_code)

    assert answers == [201, 200, 412, 422, 409, 500]
    assert not turn.held()
    assert can_be_taken_at_once(turn)


def test_a_write_waits_for_the_turn_and_answers_503_past_the_wait(client, make, database_url, sqlite_only,
                                                                   monkeypatch, other_process):
    monkeypatch.setattr(turns, "TURN_WAIT_SECONDS", 0.5)
    auth = make.headers(make.patient())
    holder = other_process(writer_turn(db.engine).lock_path)

    started = time.monotonic()
    refused = client.put(f"/api/v1/me/checkins/{DAY}", headers=auth, json=checkin_body())
    # One wait, not two: its audit row (which goes in without the turn) does not wait for it again.
    assert 0.45 < time.monotonic() - started < 0.95
    problem(refused, 503)
    assert refused.headers["Retry-After"]
    problem(client.post("/api/v1/auth/logout", headers=auth), 503)  # a write that takes the turn first
    db.session.expire_all()
    assert db.session.scalars(select(Checkin)).all() == []

    holder.stop()
    assert client.put(f"/api/v1/me/checkins/{DAY}", headers=auth, json=checkin_body()).status_code == 201


def test_a_reads_audit_row_waits_for_the_turn_not_in_sqlites_sleeps(client, make, sqlite_only):
    patient = make.patient()
    auth = make.headers(patient)
    turn = writer_turn(db.engine)
    before = db.session.scalar(select(db.func.count()).select_from(AuditEvent))
    holder = held_elsewhere_for(turn, 0.4)

    started = time.monotonic()
    answered = client.get("/api/v1/me/checkins?page_size=1", headers=auth)
    waited = time.monotonic() - started
    holder.join()

    assert answered.status_code == 200
    assert 0.25 < waited < 3  # the row went in when the turn came, not before
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count()).select_from(AuditEvent)) == before + 1
