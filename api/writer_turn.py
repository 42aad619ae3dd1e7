"""SQLite's one writer, queued across threads and processes: a turn, taken before writing and handed on at once.

SQLite lets one connection write at a time, and a connection that finds
the lock taken sleeps 1, 2, 5, 10 and up to 100 ms between looks (its busy
handler; api.database's own wait for BEGIN IMMEDIATE looked every 1 ms).
Under gunicorn (2 workers of 4 threads) the lock then sat free while its
waiters slept: reads, whose audit row is a write, answered at p99 130-350
ms, and check-in writes left 0.8 of the 2 cores idle. A turn is a queue in
front of that lock. The threads of a process wait on a lock of the
process, which hands on at once; the one thread of each process that holds
it waits for a file lock (flock) beside the database, looked at every 0.1
ms. The kernel frees a flock whose holder dies: a killed worker leaves no
turn behind.

The turn orders writers; it does not make them correct. SQLite's own lock
still does that: whatever writes without a turn (the scheduler, the CLI,
the mail sender, a server of an older release) meets that lock as before,
and a writer with the turn waits for it as before.
"""
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

# As long as a write waits for SQLite's own lock (api.database): past it, 503.
TURN_WAIT_SECONDS = 10.0
log = logging.getLogger("waypoint.database")

# How often the process's waiting thread looks at the file lock. A flock
# wait of the kernel's would wake at once but cannot be given a deadline.
_LOOK_SECONDS = 0.0001


class WriterTurn:
    """The turn to write one SQLite file: a lock of this process, then a file lock shared with the others."""

    def __init__(self, lock_path: str | None):
        self.lock_path = lock_path  # None: a database in memory, which no other process opens
        self._threads = threading.Lock()
        self._held = threading.local()
        self._file: int | None = None

    def held(self) -> bool:
        """Tell whether this thread holds the turn."""
        return getattr(self._held, "depth", 0) > 0

    def take(self) -> None:
        """Wait for the turn (at most TURN_WAIT_SECONDS); a thread that holds it already takes it once more.

        Raises SQLAlchemy's OperationalError with SQLite's SQLITE_BUSY, as a
        write lock held past the wait does: the request answers 503.
        """
        depth = getattr(self._held, "depth", 0)
        if depth:
            self._held.depth = depth + 1
            return
        deadline = time.monotonic() + TURN_WAIT_SECONDS
        if not self._threads.acquire(timeout=TURN_WAIT_SECONDS):
            raise _busy("the writers of this process")
        try:
            self._take_file(deadline)
        except BaseException:
            self._threads.release()
            raise
        self._held.depth = 1

    def give(self) -> None:
        """Give back one take of the turn; the last one hands it on."""
        depth = self._held.depth - 1
        self._held.depth = depth
        if depth:
            return
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._threads.release()

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Hold the turn for the statements inside."""
        self.take()
        try:
            yield
        finally:
            self.give()

    def forget_after_fork(self) -> None:
        """In a forked child: start with the turn free and an open file of its own.

        The child inherits the parent's open file, and a flock belongs to the
        open file: on it, parent and child would both hold the turn at once.
        Its process lock and holders are the parent's threads', not its own.
        """
        if self._file is not None:
            os.close(self._file)  # the parent's descriptor keeps the parent's lock
        self._file = None
        self._threads = threading.Lock()
        self._held = threading.local()

    def _take_file(self, deadline: float) -> None:
        if self.lock_path is None:
            return
        if self._file is None:
            try:
                self._file = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as error:
                # Writers still write, one at a time by SQLite's own lock, only
                # without the queue between processes: a slower wait, never a refusal.
                log.warning("the writer turn's file cannot be opened (%s); writers of other processes "
                            "now meet on SQLite's lock alone", error.strerror)
                self.lock_path = None
                return
        while True:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy("another process's writers") from None
            time.sleep(_LOOK_SECONDS)


def _busy(holder: str) -> OperationalError:
    error = sqlite3.OperationalError(f"{holder} held the turn to write past {TURN_WAIT_SECONDS:g} s")
    error.sqlite_errorname = "SQLITE_BUSY"  # what api.errors reads: 503, try again
    return OperationalError("(waiting for the turn to write)", None, error)


_turns: dict[str | None, WriterTurn] = {}
_turns_lock = threading.Lock()


def _forget_turns_after_fork() -> None:
    global _turns_lock
    _turns_lock = threading.Lock()
    for turn in _turns.values():
        turn.forget_after_fork()


os.register_at_fork(after_in_child=_forget_turns_after_fork)


def writer_turn(engine: Engine) -> WriterTurn:
    """Return the turn to write this SQLite engine's file: one per file and process, whichever engine opens it."""
    database = engine.url.database
    key = None if not database or database == ":memory:" or database.startswith("file:") else os.path.abspath(database)
    turn = _turns.get(key)
    if turn is None:
        with _turns_lock:
            turn = _turns.setdefault(key, WriterTurn(None if key is None else f"{key}-turn"))
    return turn
