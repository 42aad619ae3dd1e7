"""The declarative base, the naming convention and the Flask-SQLAlchemy handle."""
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar, cast

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Column, DateTime, Dialect, MetaData, inspect
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
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
Mapped_ = TypeVar("Mapped_", bound=Base)


class RowLoader(Generic[Mapped_]):
    """Puts the cls object of a row read through Core (its table's columns, in order) in a session, as a load does.

    For the caller of every request: the ORM's own load of a user with
    profile and organization cost a tenth of a check-in write, most of it
    setting up the load's machinery for one row. Built once per columns.
    """

    def __init__(self, cls: type[Mapped_], columns: Sequence[Column[Any]]):
        self.mapper = cls.__mapper__
        self.columns = tuple(columns)
        self.names = tuple(self.mapper.get_property_by_column(column).key for column in self.columns)
        self.key_positions = tuple(self.columns.index(column) for column in self.mapper.primary_key)

    def load(self, session: Session, values: Sequence[Any]) -> Mapped_:
        """Return the object the session holds for the row's primary key (as a query would), else one built.

        A held object gets the row's values where it has none loaded (after
        a commit expired it, say), as a query's load fills them; what it has
        loaded or changed stays. A built one is built as a load builds it:
        the values go straight into its state, none counts as a change, and
        it is in the session, clean, so a later change is flushed and a lazy
        relationship loads.
        """
        key = self.mapper.identity_key_from_primary_key(tuple(values[position] for position in self.key_positions))
        held = session.identity_map.get(key)
        if held is not None:
            unloaded = inspect(held).unloaded
            for name, value in zip(self.names, values, strict=True):
                if name in unloaded:
                    set_committed_value(held, name, value)
            return cast(Mapped_, held)
        built = cast(Mapped_, self.mapper.class_manager.new_instance())
        built.__dict__.update(zip(self.names, values, strict=True))
        make_transient_to_detached(built)  # its primary key becomes its identity; nothing is pending
        session.add(built)
        return built


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
