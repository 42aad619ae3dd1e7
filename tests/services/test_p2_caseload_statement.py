"""The caseload's select runs as the driver's SQL: the conversions SQLAlchemy made must still be made."""
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from models import CaseloadRow, User
from services.caseload import _caseload_query, _CaseloadStatement

SHAPES = [(clinician, by_level_of_care, by_program)
          for clinician in (True, False) for by_level_of_care in (True, False) for by_program in (True, False)]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_reads_the_kept_days_as_dates_on_sqlite(shape):
    statement = _CaseloadStatement.of_query(_caseload_query(*shape), sqlite.dialect())

    assert statement.to_date is not None and statement.to_date("2026-11-23") == date(2026, 11, 23)
    assert statement.to_date(None) is None


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_takes_the_drivers_dates_on_postgresql(shape):
    statement = _CaseloadStatement.of_query(_caseload_query(*shape), postgresql.psycopg.dialect())

    assert statement.to_date is None


def test_a_column_the_driver_gives_unconverted_stops_the_statement():
    # users.created_at is a timestamp SQLite stores as text: read raw, it would be a string.
    with pytest.raises(TypeError, match="created_at"):
        _CaseloadStatement.of_query(select(CaseloadRow.as_of, User.created_at), sqlite.dialect())
