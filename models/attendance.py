from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Enum, Float, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime
from .clock import utcnow
from .enums import AttendanceStatus, SessionKind


class AttendanceRecord(Base):
    """One scheduled treatment session and whether the patient came."""

    __tablename__ = "attendance_records"
    __table_args__ = (
        Index("ix_attendance_records_patient_day", "patient_id", "session_date"),
        CheckConstraint("hours >= 0 AND hours <= 12", name="hours_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id"))
    session_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[SessionKind] = mapped_column(Enum(SessionKind, native_enum=False, length=20))
    status: Mapped[AttendanceStatus] = mapped_column(Enum(AttendanceStatus, native_enum=False, length=20))
    # Hours attended; for a missed or excused session its scheduled length (0 when unknown).
    hours: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
