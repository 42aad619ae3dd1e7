"""The declarative base, the naming convention and the Flask-SQLAlchemy handle."""
import sqlite3
from datetime import datetime, timezone
from typing import cast

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Dialect, MetaData
from sqlalchemy.orm import DeclarativeBase, SessionTransaction
from sqlalchemy.types import TypeDecorator

# Named constraints let Alembic drop and alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def savepoint() -> SessionTransaction:
    """Begin a SAVEPOINT inside a transaction the database has really begun.

    pysqlite opens its transaction only before an INSERT/UPDATE/DELETE; a
    SAVEPOINT sent first would start one of its own, and its RELEASE would
    commit everything so far, beyond the reach of the request's rollback.
    """
    begin_writing()
    return db.session.begin_nested()


def begin_writing() -> None:
    """Hold the write lock from now to the commit, for a read that decides a write.

    On SQLite, BEGIN IMMEDIATE: pysqlite reads outside any transaction, so
    a row read and then written could change in between (another process's
    commit; the process lock in api.database covers only its own threads),
    and a transaction that read first could not wait for the lock later.
    PostgreSQL needs nothing here: its writers lock the rows they read (FOR UPDATE).
    """
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return
    # The driver's own connection under SQLAlchemy's: pysqlite's, on this dialect.
    pysqlite = cast(sqlite3.Connection, connection.connection.dbapi_connection)
    if not pysqlite.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC instant on every backend.

    SQLite has no time zone type and hands back naive values; this puts the
    UTC zone back so that comparisons with aware "now" never raise.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC instant is needed")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
