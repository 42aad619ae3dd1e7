"""A statement compiled once per dialect and run as the driver's SQL, with SQLAlchemy's own conversions.

For the few statements every request runs the same way (the audit event,
a new day's check-in and its revision, the caseload's select): executed as
a statement, SQLAlchemy works out its cache key (every join, column and
condition) and converts each parameter and row through its generic path,
every time, for what stays the same. Here the statement is compiled once,
the same bind and result processors convert the values, and the SQL goes
through Connection.exec_driver_sql: SQLAlchemy's events (the write
bookkeeping, the lost-race and no-answer handling) and its error
translation still see it.
"""
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, CursorResult, Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class DriverStatement:
    """One statement compiled for one dialect: its SQL, its parameters' order and every conversion."""

    compiled: SQLCompiler
    positions: tuple[str, ...] | None  # a positional driver's order of the names (SQLite's ?); None: by name
    names: tuple[str, ...]
    # The values the statement binds itself (a literal, a bindparam's value); None: one is a callable,
    # so SQLAlchemy's construct_params works them out on each run.
    own_values: dict[str, Any] | None
    processors: tuple[tuple[str, Processor], ...]
    # What converts each returned column as SQLAlchemy would (None: as the driver gives it).
    result_processors: tuple[Processor | None, ...]

    @classmethod
    def of(cls, statement: ClauseElement, dialect: Dialect, column_keys: tuple[str, ...] | None = None
           ) -> "DriverStatement":
        """Compile statement for dialect (an INSERT for only column_keys, where given)."""
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        if not isinstance(compiled, SQLCompiler):
            raise TypeError(f"{type(statement).__name__} does not compile to SQL")
        processors = []
        for parameter, name in compiled.bind_names.items():
            process = parameter.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors.append((name, process))
        columns = getattr(statement, "exported_columns", ())
        result_processors = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                                  for column in columns)
        positions = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        parameters = compiled.bind_names.items()
        own_values = None if any(parameter.callable is not None for parameter, _name in parameters) else {
            name: parameter.value for parameter, name in parameters if not parameter.required}
        return cls(compiled, positions, tuple(compiled.bind_names.values()), own_values, tuple(processors),
                   result_processors)

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """Return the driver's parameters for one set of values (the statement's own bound values filled in).

        A value the statement needs and values leave out raises KeyError, naming it.
        """
        if self.own_values is None:
            bound = dict(self.compiled.construct_params(dict(values)))
        else:
            bound = {**self.own_values, **values}
        for name, process in self.processors:
            bound[name] = process(bound[name])
        if self.positions is not None:
            return tuple(bound[name] for name in self.positions)
        return {name: bound[name] for name in self.names}

    def execute(self, connection: Connection, *rows: Mapping[str, Any]) -> CursorResult[Any]:
        """Run the statement for one set of values, or for many (the driver's executemany)."""
        parameters = [self.parameters(row) for row in rows]
        return connection.exec_driver_sql(self.compiled.string, parameters[0] if len(parameters) == 1 else parameters)


# Per dialect (each app's engine has its own): gone with the engine.
_COMPILED: "WeakKeyDictionary[Dialect, dict[tuple[ClauseElement, tuple[str, ...] | None], DriverStatement]]" = (
    WeakKeyDictionary())


def driver_statement(connection: Connection, statement: ClauseElement,
                     column_keys: tuple[str, ...] | None = None) -> DriverStatement:
    """Return statement compiled once for the connection's dialect (statement: built once, at import)."""
    compiled = _COMPILED.setdefault(connection.dialect, {})
    key = (statement, column_keys)
    found = compiled.get(key)
    if found is None:
        found = compiled[key] = DriverStatement.of(statement, connection.dialect, column_keys)
    return found
