"""Fixtures: a fresh app per test on one schema per run, factories, a frozen clock, the people most tests need.

The database comes from WAYPOINT_TEST_DATABASE_URL (PostgreSQL in CI's second
pass); without it, a SQLite file in a temporary folder.
"""
import email
import email.policy
import os
import shutil
import smtplib
import tempfile
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from werkzeug.serving import make_server

from api import create_app
from models import Base, db, set_clock
from services import outbox, sessions
from services.passwords import verify_password

from .factories import Factory
from .jobs.support import MailServer

TEST_DATABASE_URL = os.environ.get("WAYPOINT_TEST_DATABASE_URL")


# The app asks SQLite for synchronous=FULL: an fsync per commit, most of a
# test's time on a disk. Memory-backed files keep the same engine settings
# and lose only the durability no test needs.
_MEMORY_DISK = Path("/dev/shm")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if TEST_DATABASE_URL:
        yield TEST_DATABASE_URL
        return
    if _MEMORY_DISK.is_dir() and os.access(_MEMORY_DISK, os.W_OK):
        directory = Path(tempfile.mkdtemp(prefix="waypoint-test-", dir=_MEMORY_DISK))
        yield f"sqlite:///{directory / 'waypoint-test.db'}"
        shutil.rmtree(directory, ignore_errors=True)
        return
    yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'waypoint-test.db'}"


@pytest.fixture(scope="session")
def _schema(database_url):
    """Create the tables once per run (migrations are tested on their own)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        Base.metadata.drop_all(db.engine)
        Base.metadata.create_all(db.engine)
        db.engine.dispose()
    return database_url


@pytest.fixture
def app(_schema):
    app = create_app({"SQLALCHEMY_DATABASE_URI": _schema, "TESTING": True,
                      # Never a developer's REDIS_URL: each test counts logins afresh.
                      "RATELIMIT_STORAGE_URI": "memory://",
                      # Every caseload view in every test also proves its kept rows current.
                      "CASELOAD_CHECK_KEPT_FIGURES": True})
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


def _empty_tables() -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    with db.engine.begin() as connection:
        # DELETE, not TRUNCATE: a test leaves a handful of rows, and TRUNCATE's
        # fixed cost per table (new files, an fsync) was most of the suite's time.
        for table in tables:
            connection.execute(table.delete())
        if connection.dialect.name == "postgresql":
            # What TRUNCATE's RESTART IDENTITY did: ids start at 1 in every test.
            connection.execute(text(
                "SELECT setval(c.oid, 1, false) FROM pg_class c "
                "WHERE c.relkind = 'S' AND c.relnamespace = current_schema()::regnamespace"
            ))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def app_with_pool(app):
    """Build copies of the app on the test's database whose pool holds `size` connections.

    For tests that release many request threads at once: a request may hold two
    connections (its session's and the audit log's own transaction), more than
    the default pool gives twenty threads in one process.
    """
    built = []

    def build(size: int):
        copy = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "TESTING": True,
                           "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": size, "max_overflow": 0}})
        built.append(copy)
        return copy

    yield build
    for copy in built:
        with copy.app_context():
            db.engine.dispose()


@pytest.fixture
def live_server(app):
    """Serve the test's app (and database) on a loopback port from a thread; return its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    # Links the app writes (e-mails, redirects) lead back to this server.
    app.config["PUBLIC_BASE_URL"] = base
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def dialect(app) -> str:
    return db.engine.dialect.name


@pytest.fixture
def postgres_only(dialect):
    if dialect != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writes and hides races")


class FrozenClock:
    """The one clock the code reads, held still and moved by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, iso: str) -> None:
        self.now = datetime.fromisoformat(iso).astimezone(timezone.utc)

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)

    @contextmanager
    def moved_to(self, instant: str | datetime):
        """Hold the clock at another instant inside the block (to enrol a patient in the past), then put it back."""
        now = self.now
        if isinstance(instant, str):
            self.set(instant)
        else:
            self.now = instant
        try:
            yield self
        finally:
            self.now = now


@pytest.fixture
def clock():
    """Freeze "now" at 2026-11-23 17:00 UTC (noon in New York) unless a test moves it."""
    frozen = FrozenClock(datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc))
    set_clock(frozen)
    yield frozen
    set_clock(None)


@pytest.fixture
def make(app, clock) -> Factory:
    """Factories for organizations, staff, patients and their tokens."""
    return Factory(clock)


# --- the people most tests need: one clinician, their patient, each one's headers --------
# A module that needs them otherwise (a name a test reads, an earlier enrolment) overrides
# the fixture under the same name; the others below then use its version.

@pytest.fixture
def organization(make):
    """The clinic the clinician works at."""
    return make.organization()


@pytest.fixture
def clinician(make, organization):
    """A clinician of the organization."""
    return make.clinician(organization)


@pytest.fixture
def patient(make, clinician):
    """A registered patient on the clinician's care team, enrolled at the frozen now."""
    return make.patient(clinician)


@pytest.fixture
def auth(make, patient):
    """The patient's Authorization headers: the caller of the /me routes most tests exercise."""
    return make.headers(patient)


@pytest.fixture
def clinician_auth(make, clinician):
    """The clinician's Authorization headers."""
    return make.headers(clinician)


@pytest.fixture
def no_throttle(app):
    """Lift the login throttle so a test can make as many attempts as it needs (e.g. to reach the lockout)."""
    app.config.update(LOGIN_LIMITS_PER_ACCOUNT="1000/minute", LOGIN_LIMITS_PER_ADDRESS="1000/minute")


@pytest.fixture
def count(app):
    """Count the rows of a model, optionally filtered: `count(Checkin)`, `count(Invite, Invite.used_at.is_(None))`."""

    def rows(model, *conditions) -> int:
        return db.session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0

    return rows


@pytest.fixture
def verified_hashes(monkeypatch) -> list:
    """The stored hashes a login verified a password against, in order (None: the dummy hash)."""
    verified: list = []

    def recording(stored, password):
        verified.append(stored)
        return verify_password(stored, password)

    monkeypatch.setattr(sessions, "verify_password", recording)
    return verified


# --- outgoing mail (services.mail) ------------------------------------------------------

@pytest.fixture(autouse=True)
def _no_real_mail(request, monkeypatch, tmp_path):
    """Fail any test that would reach a real mail server; .eml files go to a temporary folder.

    A test that starts its own SMTP server on loopback asks for `real_smtp`.
    """
    monkeypatch.delenv("SMTP_URL", raising=False)
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    attempts = []
    if "real_smtp" not in request.fixturenames:
        class RefusedSMTP:
            def __init__(self, host="", port=0, *args, **kwargs):
                attempts.append(f"{host}:{port}")
                raise ConnectionRefusedError("tests may not reach a real mail server")

        monkeypatch.setattr(smtplib, "SMTP", RefusedSMTP)
        monkeypatch.setattr(smtplib, "SMTP_SSL", RefusedSMTP)
    yield
    if attempts:
        pytest.fail(f"the test tried to reach a real mail server at {attempts}")


@pytest.fixture
def real_smtp():
    """Let this test's code reach an SMTP server (one the test starts itself on loopback)."""


@pytest.fixture
def smtp_server(real_smtp, app):
    """A running SMTP server that the app's SMTP_URL points at."""
    server = MailServer()
    server.start()
    app.config["SMTP_URL"] = server.url
    yield server
    server.stop()


@pytest.fixture
def stopped_smtp_server(real_smtp, app):
    """An SMTP server that is down until the test calls start()."""
    server = MailServer()
    app.config["SMTP_URL"] = server.url
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def outbox_wakeups():
    """Record each commit that woke the outbox's sender, instead of starting its thread.

    Tests send what is owed with `sent_mail` (or services.outbox.send_due);
    a test of the thread itself starts one with services.outbox.Sender.
    """
    woken: list = []
    previous = outbox.set_waker(woken.append)
    yield woken
    outbox.set_waker(previous)


class SentMail:
    """The messages the outbox has delivered, after sending what is owed, as the sender thread would."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _messages(self) -> list:
        outbox.send_due()
        files = sorted(self.folder.glob("*.eml"), key=lambda path: path.stat().st_mtime_ns)
        return [DeliveredMessage(email.message_from_bytes(path.read_bytes(), policy=email.policy.default))
                for path in files]

    def __iter__(self):
        return iter(self._messages())

    def __len__(self) -> int:
        return len(self._messages())

    def __eq__(self, other) -> bool:
        return self._messages() == other


class DeliveredMessage:
    def __init__(self, message):
        self.message = message
        self.to, self.subject = message["To"], message["Subject"]
        self.text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",))
        self.html = html.get_content() if html is not None else None


@pytest.fixture
def sent_mail(app, tmp_path):
    """What the outbox delivered (as .eml files in the test's outbox folder); reading it sends what is owed."""
    return SentMail(tmp_path / "outbox")


@pytest.fixture
def driver_statements(app):
    """Every statement SQLite's driver runs from here on, BEGIN and COMMIT included, on fresh connections."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's driver: PostgreSQL's transactions are the server's")
    sent: list[str] = []

    def trace(dbapi_connection, _record):
        dbapi_connection.set_trace_callback(sent.append)

    event.listen(db.engine, "connect", trace)
    db.engine.dispose()
    yield sent
    event.remove(db.engine, "connect", trace)
    db.engine.dispose()
