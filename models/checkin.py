from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime
from .clock import utcnow


class Checkin(Base):
    """A patient's check-in for one local calendar day; one per day at most."""

    __tablename__ = "checkins"
    __table_args__ = (
        UniqueConstraint("patient_id", "day"),
        CheckConstraint("craving BETWEEN 0 AND 10", name="craving_range"),
        CheckConstraint("mood BETWEEN 0 AND 10", name="mood_range"),
        CheckConstraint("sleep_hours BETWEEN 0 AND 24", name="sleep_hours_range"),
        # The use days alone, a few percent of the rows: with the (patient_id, day)
        # index they give the abstinent runs without reading a row
        # (services.history._earlier_checkins). SQLite uses a partial index
        # only for the very term of its WHERE, and SQLAlchemy writes a Boolean
        # there as "= 1".
        Index("ix_checkins_use_days", "patient_id", "day",
              sqlite_where=text("used_substance = 1"), postgresql_where=text("used_substance")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id"))
    day: Mapped[date] = mapped_column(Date)
    craving: Mapped[int] = mapped_column(Integer)
    mood: Mapped[int] = mapped_column(Integer)
    sleep_hours: Mapped[float] = mapped_column(Float)
    sleep_quality: Mapped[int | None] = mapped_column(Integer)
    used_substance: Mapped[bool] = mapped_column(Boolean)
    substances: Mapped[list[str]] = mapped_column(JSON, default=list)
    coping_skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    custom_coping_skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    triggers: Mapped[list[str]] = mapped_column(JSON, default=list)
    medication_taken: Mapped[bool | None] = mapped_column(Boolean)
    self_harm_thoughts: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    # Written after its local day had ended; the figures say so.
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    revisions: Mapped[list["CheckinRevision"]] = relationship(
        order_by="CheckinRevision.version", back_populates="checkin"
    )


class CheckinRevision(Base):
    """Every version of a check-in as it was written; never changed afterwards."""

    __tablename__ = "checkin_revisions"
    __table_args__ = (UniqueConstraint("checkin_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    checkin_id: Mapped[int] = mapped_column(ForeignKey("checkins.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    checkin: Mapped[Checkin] = relationship(back_populates="revisions")
