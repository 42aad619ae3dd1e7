"""PostgreSQL's cursor describes a result as psycopg does, but only when something reads the description.

api/psycopg_cursor.py: SQLAlchemy reads cursor.description after every
statement, and psycopg built a Column for each column every time.
"""
import psycopg
import psycopg._cursor_base
import pytest
from sqlalchemy import select, text

from api.psycopg_cursor import DescribedOnDemandCursor
from models import User, db

pytestmark = pytest.mark.usefixtures("postgres_only")

_MIXED = "SELECT 1 AS n, 'a'::text AS word, now() AS at, 2.5::numeric(4, 2) AS dose, NULL::jsonb AS detail"


def _as_psycopg_describes(description) -> list[tuple]:
    return [(column.name, column.type_code, column.display_size, column.internal_size, column.precision,
             column.scale) for column in description]


@pytest.fixture
def driver_connection():
    """A connection of the app's own engine, as the pool hands it out."""
    connection = db.engine.raw_connection()
    yield connection.driver_connection
    connection.close()


@pytest.fixture
def columns_built(monkeypatch) -> list:
    """Every psycopg Column built from now on, counted."""
    built = []

    class Counted(psycopg.Column):
        def __init__(self, *args):
            built.append(1)
            super().__init__(*args)

    monkeypatch.setattr(psycopg, "Column", Counted)
    monkeypatch.setattr(psycopg._cursor_base, "Column", Counted)  # the stock cursor's own
    return built


def test_the_apps_connections_use_the_cursor_that_describes_on_demand(driver_connection):
    assert isinstance(driver_connection.cursor(), DescribedOnDemandCursor)


def test_a_result_is_described_as_psycopgs_own_cursor_describes_it(driver_connection):
    ours = driver_connection.cursor()
    stock = psycopg.Cursor(driver_connection)
    ours.execute(_MIXED)
    stock.execute(_MIXED)

    assert len(ours.description) == 5
    assert _as_psycopg_describes(ours.description) == _as_psycopg_describes(stock.description)
    assert ours.description[1].name == "word"
    assert [column.name for column in ours.description[-2:]] == ["dose", "detail"]


def test_a_statement_that_returns_no_rows_has_no_description_and_an_empty_select_an_empty_one(driver_connection):
    cursor = driver_connection.cursor()
    cursor.execute("CREATE TEMPORARY TABLE scratch (n int)")
    cursor.execute("INSERT INTO scratch VALUES (1)")
    assert cursor.description is None

    cursor.execute("SELECT ;")
    assert cursor.description is not None
    assert len(cursor.description) == 0
    assert list(cursor.description) == []
    driver_connection.rollback()


def test_a_description_read_after_the_cursor_moved_on_still_describes_its_own_result(driver_connection):
    cursor = driver_connection.cursor()
    cursor.execute(_MIXED)
    first = cursor.description
    cursor.execute("SELECT 'later' AS other")

    assert [column.name for column in first] == ["n", "word", "at", "dose", "detail"]
    assert [column.name for column in cursor.description] == ["other"]
    driver_connection.rollback()


def test_a_select_sqlalchemy_has_compiled_before_builds_no_column_descriptions(make, columns_built):
    patient = make.patient()
    statement = select(User.id, User.email, User.role).where(User.id == patient.id)
    db.session.execute(statement).one()  # compiled and its columns learnt once
    columns_built.clear()

    row = db.session.execute(statement).one()

    assert (row.id, row.email) == (patient.id, patient.email)
    assert columns_built == []


def test_a_statement_sqlalchemy_has_not_compiled_reads_its_columns_from_the_description(columns_built):
    db.session.execute(text("SELECT 1"))  # the connection and its first-use checks
    columns_built.clear()

    row = db.session.execute(text("SELECT 7 AS dose, 'mg' AS unit")).one()

    assert (row.dose, row.unit) == (7, "mg")
    assert len(columns_built) == 2
