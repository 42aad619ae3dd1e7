from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime
from .clock import utcnow
from .enums import ConsentScope


class Consent(Base):
    """A patient's consent to disclose (42 CFR Part 2); revoked, never deleted."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id"), index=True)
    scope: Mapped[ConsentScope] = mapped_column(Enum(ConsentScope, native_enum=False, length=30))
    # Who may receive it, for consents outside the program (a provider, a person).
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    recipient_kind: Mapped[str | None] = mapped_column(String(40))
    purpose: Mapped[str | None] = mapped_column(String(300))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Disclosure(Base):
    """One disclosure outside the program: the patient's accounting of disclosures."""

    __tablename__ = "disclosures"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id"), index=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consents.id"))
    disclosed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recipient_name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str | None] = mapped_column(String(300))
    data_format: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    disclosed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """One read or write of patient data, or a denied attempt. Append-only.

    Nothing in the code updates or deletes a row; on PostgreSQL a trigger
    refuses UPDATE and DELETE as well (migration 0003).
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_org_time", "organization_id", "occurred_at"),
        Index("ix_audit_events_patient_time", "patient_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(80))  # e.g. "read", "write", "login"
    resource: Mapped[str] = mapped_column(String(120))  # the route, e.g. "patients.PatientCheckins"
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str] = mapped_column(String(20))  # "allowed", "denied", "failed"
    status_code: Mapped[int | None] = mapped_column()
    client_address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
