from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime
from .clock import utcnow
from .enums import AlertSeverity, AlertStatus


class Alert(Base):
    """A rule that fired for a patient; one open alert per rule per patient.

    A repeat of the rule while the alert is open or acknowledged updates it
    (last_triggered_at, trigger_count, evidence) instead of piling up.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_patient_rule_status", "patient_id", "rule", "status"),
        Index("ix_alerts_organization_status", "organization_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id"))
    rule: Mapped[str] = mapped_column(String(40))
    severity: Mapped[AlertSeverity] = mapped_column(Enum(AlertSeverity, native_enum=False, length=20))
    status: Mapped[AlertStatus] = mapped_column(Enum(AlertStatus, native_enum=False, length=20))
    summary: Mapped[str] = mapped_column(String(300))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # An open alert is unique per (patient, rule); the key is null once resolved.
    open_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    first_triggered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_triggered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    trigger_count: Mapped[int] = mapped_column(default=1)
    local_day: Mapped[date] = mapped_column(Date)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledge_note: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolve_note: Mapped[str | None] = mapped_column(Text)
