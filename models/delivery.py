from datetime import date, datetime, time

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime
from .clock import utcnow


class NotificationPreference(Base):
    """How a user wants to hear from Waypoint; absent row = the defaults."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    # "detailed" (the patient's own figures), "notice" ("your summary is
    # ready", no figures) or "off" (unsubscribed).
    weekly_summary: Mapped[str] = mapped_column(String(20), default="notice")
    reminders_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    reminder_time: Mapped[time] = mapped_column(Time, default=time(19, 0))  # local time
    reminders_paused_until: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """One message owed to one recipient for one period: the exactly-once ledger.

    The unique (recipient, kind, period) row is claimed before sending and
    marked sent only after the mail server accepted the message, so a job
    that runs twice, restarts, or runs in two processes sends it once.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("recipient_id", "kind", "period"),
        Index("ix_deliveries_status_next_attempt", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))  # weekly_summary, clinician_digest, daily_reminder
    period: Mapped[str] = mapped_column(String(20))  # "2026-W47" or "2026-11-23"
    # pending -> sending -> sent; retry (temporary failure, backoff); failed
    # (permanent, shown to admins); skipped (no longer owed when its turn came).
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    last_error: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
