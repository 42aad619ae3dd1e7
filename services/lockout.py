"""The pause on sign-in after wrong passwords, and the trusted devices that pass it.

Guesses at an address pause its sign-in; its owner still gets in from a
device that signed in before (OWASP's "device cookie"), which has a failure
count of its own. Guessing therefore stays throttled, and guessing cannot
lock the owner out.
"""
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite

from models import LoginDevice, LoginLockout, db

from .errors import LoginPaused


@dataclass(frozen=True)
class LockoutPolicy:
    """How many wrong passwords in a row pause sign-in, and for how long."""

    max_failures: int = 10
    lockout: timedelta = timedelta(minutes=15)


# A device that has not signed in for this long is trusted no more.
DEVICE_TRUST = timedelta(days=180)
_DEVICE_SALT = "waypoint.login-device"


def address_digest(email: str) -> str:
    """Return the key of an address's lockout and devices."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def paused_until(row: LoginLockout | LoginDevice | None, now: datetime) -> datetime | None:
    """Return when the pause on row ends, or None when sign-in is not paused."""
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return row.locked_until


def raise_if_paused(row: LoginLockout | LoginDevice | None, now: datetime) -> None:
    """Raise LoginPaused when row's sign-in is paused at now, whatever the password."""
    if (until := paused_until(row, now)) is None:
        return
    if isinstance(row, LoginDevice):
        where, way_out = "from this device", ""
    else:
        where, way_out = "for this e-mail address", " A device you have signed in on before can sign in now."
    raise LoginPaused(f"Too many wrong passwords {where}: sign-in is paused until {until:%H:%M} UTC; "
                      f"the password was not checked.{way_out}", until)


def address_lockout(email: str) -> LoginLockout | None:
    """Return the failure count of an address, if it has failures."""
    return db.session.get(LoginLockout, address_digest(email), populate_existing=True)


def record_address_failure(email: str, now: datetime, policy: LockoutPolicy) -> None:
    """Count a wrong password for an address; the policy's n-th in a row pauses it."""
    # One statement, so concurrent guesses cannot overwrite each other's count.
    insert = (postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert)
    statement = insert(LoginLockout).values(
        address_digest=address_digest(email), failed_logins=1, last_failed_at=now)
    failures = db.session.execute(
        statement.on_conflict_do_update(
            index_elements=[LoginLockout.address_digest],
            set_={"failed_logins": LoginLockout.failed_logins + 1, "last_failed_at": now},
        ).returning(LoginLockout.failed_logins)
    ).scalar_one()
    if failures >= policy.max_failures:
        db.session.execute(update(LoginLockout).where(LoginLockout.address_digest == address_digest(email))
                           .values(failed_logins=0, locked_until=now + policy.lockout))
    db.session.flush()


def clear_address(email: str) -> None:
    """Forget an address's failures and lift its pause (a sign-in, an admin, a reset)."""
    db.session.execute(delete(LoginLockout).where(LoginLockout.address_digest == address_digest(email)))
    db.session.flush()


def forget_devices(email: str) -> None:
    """Trust no device of an address any more (logging out everywhere, a new password, disabling).

    Whoever held a device of the account's must now sign in afresh, and
    until they do, the address's pause holds them like anyone else.
    """
    db.session.execute(delete(LoginDevice).where(LoginDevice.address_digest == address_digest(email)))
    db.session.flush()


def trusted_device(device_id: str | None, email: str) -> LoginDevice | None:
    """Return the device of a verified token if it signed in to this address before."""
    if device_id is None:
        return None
    device = db.session.get(LoginDevice, device_id, populate_existing=True)
    if device is None or device.address_digest != address_digest(email):
        return None
    return device


def record_device_failure(device: LoginDevice, now: datetime, policy: LockoutPolicy) -> None:
    """Count a wrong password from a trusted device; the n-th in a row pauses the device."""
    failures = db.session.execute(
        update(LoginDevice).where(LoginDevice.id == device.id)
        .values(failed_logins=LoginDevice.failed_logins + 1).returning(LoginDevice.failed_logins)
    ).scalar_one()
    if failures >= policy.max_failures:
        db.session.execute(update(LoginDevice).where(LoginDevice.id == device.id)
                           .values(failed_logins=0, locked_until=now + policy.lockout))
    db.session.flush()
    db.session.expire(device, ["failed_logins", "locked_until"])


def remember_device(device: LoginDevice | None, email: str, now: datetime) -> LoginDevice:
    """Trust the device a sign-in came from (a new one when device is None); reset its count."""
    if device is None:
        device = LoginDevice(id=str(uuid.uuid4()), address_digest=address_digest(email), created_at=now)
        db.session.add(device)
    device.last_login_at, device.failed_logins, device.locked_until = now, 0, None
    db.session.flush()
    return device


def device_token(device: LoginDevice, secret: str, now: datetime) -> str:
    """Return the signed token that names device (for the client to keep)."""
    return _serializer(secret).dumps(
        {"device": device.id, "address": device.address_digest, "issued": int(now.timestamp())})


def device_in_token(token: str | None, email: str, secret: str, now: datetime,
                    trust: timedelta = DEVICE_TRUST) -> str | None:
    """Return the device id a token names, if it is ours, unexpired and for this address."""
    if not token:
        return None
    try:
        claims = _serializer(secret).loads(token)
    except BadSignature:
        return None
    if not isinstance(claims, dict) or claims.get("address") != address_digest(email):
        return None
    device, issued = claims.get("device"), claims.get("issued")
    if not isinstance(device, str) or not isinstance(issued, int) or issued + trust.total_seconds() <= now.timestamp():
        return None
    return device


def _serializer(secret: str) -> URLSafeSerializer:
    # The clock is the application's (models.utcnow), not the signer's own.
    return URLSafeSerializer(secret, salt=_DEVICE_SALT)
