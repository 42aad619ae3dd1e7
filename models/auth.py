from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime
from .clock import utcnow


class AuthSession(Base):
    """One login: the family of refresh tokens that rotate from it.

    Only the newest refresh token of a family is valid. Presenting an older
    one means it was copied, so the whole family is revoked.
    """

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    current_refresh_jti: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(40))


class LoginLockout(Base):
    """Wrong passwords in a row for one e-mail address, and the pause they caused.

    Kept per address, whether or not it has an account (or has two, in two
    organizations), so a paused sign-in says nothing about who is enrolled.
    Sign-ins from a trusted LoginDevice pass it.
    """

    __tablename__ = "login_lockouts"

    # sha256 of the lower-cased address: the users table holds real addresses
    # in clear already, and this one keeps those nobody has out of the database.
    address_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginDevice(Base):
    """A device that signed in to an address (OWASP's device cookie).

    Its signed token lets the owner sign in while their address is paused by
    someone else's guesses; its own wrong passwords pause only the device.
    """

    __tablename__ = "login_devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    address_digest: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
