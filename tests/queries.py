"""Count the SQL statements a block runs: the query budgets that catch an N+1."""
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event

from models import db


@contextmanager
def count_queries() -> Iterator[Callable[[], int]]:
    """Count the SQL statements run inside the block: `with count_queries() as n: ...; n()`."""
    with statements_run() as statements:
        yield lambda: len(statements)


@contextmanager
def statements_run() -> Iterator[list[str]]:
    """Record the SQL statements run inside the block, in order."""
    statements: list[str] = []

    def before_execute(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before_execute)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before_execute)
