from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime
from .clock import utcnow


class WeeklyGoal(Base):
    """A small goal a patient sets for one week (weeks start on Monday, local time)."""

    __tablename__ = "weekly_goals"
    __table_args__ = (Index("ix_weekly_goals_patient_week", "patient_id", "week_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id"))
    week_start: Mapped[date] = mapped_column(Date)
    text: Mapped[str] = mapped_column(String(200))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
