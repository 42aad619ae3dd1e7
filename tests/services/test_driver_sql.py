"""models.driver_sql: a statement compiled once runs with exactly the parameters SQLAlchemy would send."""
import json
from datetime import datetime, timezone
from itertools import count

import pytest
from sqlalchemy import JSON, Integer, bindparam, create_engine, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from models.base import UTCDateTime
from models.driver_sql import DriverStatement, driver_statement

WHEN = datetime(2026, 12, 2, 18, 30, tzinfo=timezone.utc)
# A statement binding values of its own (a literal) beside the caller's, with conversions on the way in.
STATEMENT = select(literal(5, Integer).label("five"), bindparam("when", type_=UTCDateTime).label("when"),
                   bindparam("detail", type_=JSON).label("detail"))


def _as_sqlalchemy_sends(statement, dialect, values):
    compiled = statement.compile(dialect=dialect)
    bound = compiled.construct_params(values)
    for parameter, name in compiled.bind_names.items():
        process = parameter.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            bound[name] = process(bound[name])
    return tuple(bound[name] for name in compiled.positiontup) if compiled.positiontup else dict(bound)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.psycopg.dialect()], ids=["sqlite", "postgresql"])
def test_the_parameters_are_what_sqlalchemy_itself_would_send(dialect):
    values = {"when": WHEN, "detail": {"route": "x"}}

    assert _comparable(DriverStatement.of(STATEMENT, dialect).parameters(values)) == _comparable(
        _as_sqlalchemy_sends(STATEMENT, dialect, values))


def _comparable(sent):
    # psycopg wraps a JSON value in a Json object, equal to another only by its .obj.
    unwrap = lambda value: getattr(value, "obj", value)  # noqa: E731
    return {name: unwrap(value) for name, value in sent.items()} if isinstance(sent, dict) else tuple(map(unwrap, sent))


def test_a_named_driver_gets_only_the_statements_own_names():
    sent = DriverStatement.of(STATEMENT, postgresql.psycopg.dialect()).parameters(
        {"when": WHEN, "detail": {}, "not_a_parameter": 1})

    assert isinstance(sent, dict) and "not_a_parameter" not in sent and len(sent) == 3


def test_a_value_the_statement_needs_and_was_not_given_is_refused_by_name():
    with pytest.raises(KeyError, match="when"):
        DriverStatement.of(STATEMENT, sqlite.dialect()).parameters({"detail": {}})


def test_a_value_bound_to_a_callable_is_worked_out_on_each_run():
    calls = count(1)
    statement = select(bindparam("n", callable_=lambda: next(calls), type_=Integer).label("n"))
    driver = DriverStatement.of(statement, sqlite.dialect())

    assert [driver.parameters({}), driver.parameters({})] == [(1,), (2,)]


def test_it_runs_on_a_connection_and_reads_back_through_the_result_processors():
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        driver = driver_statement(connection, STATEMENT)
        row = driver.execute(connection, {"when": WHEN, "detail": {"route": "x"}}).one()
        read = [process(value) if process else value
                for process, value in zip(driver.result_processors, row, strict=True)]

        assert driver_statement(connection, STATEMENT) is driver  # compiled once per dialect
    assert read == [5, WHEN, {"route": "x"}] and json.loads(row[2]) == {"route": "x"}
