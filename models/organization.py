from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime
from .clock import utcnow


class Organization(Base):
    """A treatment center; nothing crosses its boundary."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Per-organization settings (design: the edit window and late entry are
    # the program's choice).
    edit_window_hours: Mapped[int] = mapped_column(Integer, default=72)
    late_entry_days: Mapped[int] = mapped_column(Integer, default=30)
    invite_valid_hours: Mapped[int] = mapped_column(Integer, default=72)
    # Overrides of services.alert_rules.DEFAULT_THRESHOLDS, key by key.
    alert_thresholds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Shown with the 988 Lifeline when a patient reports a crisis.
    crisis_phone: Mapped[str | None] = mapped_column(String(40))
    # Minimum necessary: clinician digests carry counts, not names, unless on.
    digest_detail: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    programs: Mapped[list["Program"]] = relationship(back_populates="organization")


class Program(Base):
    """A treatment track inside an organization (e.g. "Evening IOP")."""

    __tablename__ = "programs"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="programs")


class CopingSkill(Base):
    """One entry of an organization's coping-skill catalogue."""

    __tablename__ = "coping_skills"
    __table_args__ = (UniqueConstraint("organization_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
