from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime
from .clock import utcnow


class AssessmentAssignment(Base):
    """A clinician's order: this instrument, every cadence_days, answerable for window_days."""

    __tablename__ = "assessment_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id"), index=True)
    instrument: Mapped[str] = mapped_column(String(20))  # services.instruments code
    cadence_days: Mapped[int] = mapped_column(Integer)
    window_days: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[date] = mapped_column(Date)  # the patient's local day of the first occurrence
    assigned_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class AssessmentResponse(Base):
    """One completed questionnaire with its score, kept as scored at the time."""

    __tablename__ = "assessment_responses"
    __table_args__ = (UniqueConstraint("assignment_id", "occurrence_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id"), index=True)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assessment_assignments.id"))
    # The scheduled day this response answers (unique per assignment: one answer per occurrence).
    occurrence_on: Mapped[date | None] = mapped_column(Date)
    instrument: Mapped[str] = mapped_column(String(20))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    total: Mapped[int | None] = mapped_column(Integer)
    band: Mapped[str | None] = mapped_column(String(40))
    subscales: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    item9: Mapped[int | None] = mapped_column(Integer)
    crisis: Mapped[bool] = mapped_column(Boolean, default=False)
    local_day: Mapped[date] = mapped_column(Date)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
