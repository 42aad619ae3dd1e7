from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Date, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime
from .clock import utcnow
from .enums import LevelOfCare, Role

if TYPE_CHECKING:
    # Annotations only: SQLAlchemy finds relationship targets by name in its registry.
    from .organization import Organization, Program


class User(Base):
    """Anyone who signs in: a patient, a clinician or an admin of one organization."""

    __tablename__ = "users"
    # One account per address within an organization. Across organizations
    # an address may recur: refusing it would tell one program that someone
    # is a patient of another (42 CFR Part 2). Login tells them apart by password.
    __table_args__ = (UniqueConstraint("organization_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # Stored lower-case.
    email: Mapped[str] = mapped_column(String(254), index=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20))
    # Null until an invited patient registers.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Every token issued before this instant is dead (password change,
    # logout everywhere, disabled account).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Read by nothing since 0008: the pause on sign-in is per address now
    # (LoginLockout, services.lockout). Kept until no code writes them.
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped["Organization"] = relationship()
    patient_profile: Mapped["PatientProfile | None"] = relationship(
        back_populates="user", foreign_keys="PatientProfile.user_id"
    )


class PatientProfile(Base):
    """What the clinic knows about a patient beyond the account."""

    __tablename__ = "patient_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64))
    recovery_start_date: Mapped[date | None] = mapped_column(Date)
    level_of_care: Mapped[LevelOfCare] = mapped_column(
        Enum(LevelOfCare, native_enum=False, length=20)
    )
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), index=True)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    enrolled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    user: Mapped[User] = relationship(back_populates="patient_profile", foreign_keys=[user_id])
    program: Mapped["Program | None"] = relationship()
    level_of_care_history: Mapped[list["LevelOfCareChange"]] = relationship(
        order_by="LevelOfCareChange.id", back_populates="patient"
    )
    care_team_members: Mapped[list["CareTeamMember"]] = relationship(
        order_by="CareTeamMember.clinician_id", viewonly=True
    )


class CareTeamMember(Base):
    """A clinician on a patient's care team: the only way a clinician sees a patient."""

    __tablename__ = "care_team_members"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id"), primary_key=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    clinician: Mapped[User] = relationship(foreign_keys=[clinician_id])


class LevelOfCareChange(Base):
    """One step up or down (or the first placement), kept as history."""

    __tablename__ = "level_of_care_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id"), index=True)
    level_of_care: Mapped[LevelOfCare] = mapped_column(
        Enum(LevelOfCare, native_enum=False, length=20)
    )
    effective_date: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    changed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    patient: Mapped[PatientProfile] = relationship(back_populates="level_of_care_history")
    changed_by: Mapped[User] = relationship(foreign_keys=[changed_by_id])


class Invite(Base):
    """A single-use, expiring code that lets an enrolled patient register."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id"), index=True)
    # Only a hash is stored: a database leak must not hand out accounts.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
