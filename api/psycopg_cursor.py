"""PostgreSQL's cursor, describing a result's columns when something reads them, not on every statement.

psycopg builds a Column object for every column of a result each time
cursor.description is read (the name decoded, the type looked up in the
adapters' registry). SQLAlchemy reads it after every statement, but for a
statement it has compiled before (the token's check, the page, the
patient's lock) only to tell whether rows came back: it already knows the
columns. A check-in PUT described 59 columns that nothing looked at. Here
the description is a sequence of the same Columns, built on first look:
callgrind counted 6 % fewer instructions a request for the floor and P1 on
PostgreSQL, 4 % for the caseload (docs/benchmarks.md, round 7).
"""
from collections.abc import Iterator, Sequence
from typing import Any, overload

import psycopg
from psycopg.pq import ExecStatus

# What psycopg's own description answers a list for; anything else, None.
_TUPLES = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)


class _ResultSource:
    """What psycopg.Column reads from a cursor, for a result the cursor has since moved on from."""

    __slots__ = ("_encoding", "adapters", "pgresult")

    def __init__(self, pgresult: Any, cursor: psycopg.Cursor):
        self.pgresult, self._encoding, self.adapters = pgresult, cursor._encoding, cursor.adapters


class ColumnsOnDemand(Sequence):
    """A result's description: psycopg's Columns, built the first time one is read."""

    __slots__ = ("_columns", "_count", "_cursor", "_pgresult")

    def __init__(self, cursor: psycopg.Cursor, pgresult: Any):
        self._cursor, self._pgresult, self._count = cursor, pgresult, pgresult.nfields
        self._columns: list[psycopg.Column] | None = None

    def _built(self) -> list[psycopg.Column]:
        if self._columns is None:
            cursor = self._cursor
            # Always this result's columns, even if the cursor has run another statement since.
            source = cursor if cursor.pgresult is self._pgresult else _ResultSource(self._pgresult, cursor)
            self._columns = [psycopg.Column(source, index) for index in range(self._count)]  # type: ignore[arg-type]
            self._cursor = None  # type: ignore[assignment]  # nothing more to read from it
        return self._columns

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> psycopg.Column: ...

    @overload
    def __getitem__(self, index: slice) -> list[psycopg.Column]: ...

    def __getitem__(self, index: int | slice) -> psycopg.Column | list[psycopg.Column]:
        return self._built()[index]

    def __iter__(self) -> Iterator[psycopg.Column]:
        return iter(self._built())

    def __repr__(self) -> str:
        return repr(self._built())


class DescribedOnDemandCursor(psycopg.Cursor):
    """psycopg's cursor, whose description is built when read (ColumnsOnDemand)."""

    @property
    def description(self) -> ColumnsOnDemand | None:  # type: ignore[override]
        result = self.pgresult
        # psycopg's own test: columns, or a statement that said it returns tuples ("SELECT ;").
        if result is not None and (result.nfields or result.status in _TUPLES):
            return ColumnsOnDemand(self, result)
        return None
