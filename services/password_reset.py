"""Self-service password reset: a link by e-mail that sets a new password once and ends every session.

Asking (``request_password_reset``) owes one e-mail to every active,
registered account with that address, through the delivery ledger
(services.ledger.owe; services.outbox sends it): an address may have an account in several
organizations, and each gets its own link. Whether any account exists is
never said: the caller answers the same whatever happens here.

The link carries a signed, timestamped token and nothing else. No table
keeps it: it is made when the e-mail is composed, so the raw token exists
only in the e-mail. It names the account and a fingerprint of the account's
password hash and token cut-off (tokens_valid_after). It is
- short-lived: LINK_LIFETIME from the moment it was composed;
- single-use: setting the password changes the hash, so the fingerprint no
  longer matches; the change itself is a compare-and-set on the old hash,
  so two uses at once cannot both succeed;
- dead as soon as the password changes any other way, or the person logs
  out everywhere, or the account is disabled.
Setting the password ends every session (services.sessions.invalidate_tokens)
and lifts the pause wrong passwords put on the address's sign-in: whoever
holds the link holds the mailbox, and guesses at the old password say
nothing about the new one.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from html import escape
from typing import Any, cast

from flask import current_app
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import CursorResult, select, update

from models import User, db, utcnow

from .delivery import Letter, Skip
from .errors import InvalidInput
from .ledger import PASSWORD_RESET, Claimed, owe
from .lockout import clear_address
from .mail import public_link
from .passwords import hash_password, require_new_password
from .sessions import invalidate_tokens

LINK_LIFETIME = timedelta(minutes=30)
# The page a link opens; the token follows it after "#", so it never reaches a server log.
RESET_PAGE_PATH = "/api/v1/password-reset"
SUBJECT = "Reset your Waypoint password"
_SALT = "waypoint-password-reset"


def _invalid_link() -> InvalidInput:
    return InvalidInput(
        "This reset link is not valid any more.",
        {"token": ["The link has expired, was already used, or is not a reset link. Ask for a new one."]},
    )


def request_password_reset(email: str, now: datetime) -> None:
    """Owe a reset e-mail to each active, registered account with this address (no commit).

    An address with no account runs the same query; only the ledger rows
    differ, and what they cost is sent off the request's thread.
    """
    accounts = db.session.scalars(
        select(User.id).where(User.email == email.strip().lower(), User.is_active.is_(True),
                              User.password_hash.is_not(None))
        .order_by(User.id)
    ).all()
    for user_id in accounts:
        owe(PASSWORD_RESET, user_id, request_period(now), now)


def request_period(now: datetime) -> str:
    """Return the ledger period of a request at now: one e-mail per account per second asked."""
    return f"R{int(now.timestamp())}"


def compose_password_resets(batch: list[Claimed], now: datetime | None = None) -> Mapping[int, Letter | Skip]:
    """Write each claimed reset e-mail with a fresh link; skip an account that can no longer use one."""
    now = now or utcnow()
    users = {user.id: user for user in db.session.scalars(
        select(User).where(User.id.in_({d.recipient_id for d in batch})))}
    letters: dict[int, Letter | Skip] = {}
    for delivery in batch:
        user = users.get(delivery.recipient_id)
        if user is None or not user.is_active or user.password_hash is None:
            letters[delivery.id] = Skip("account gone, disabled or not registered")
        elif now - _requested_at(delivery.period) > LINK_LIFETIME:
            letters[delivery.id] = Skip("asked too long ago; a late link only confuses")
        else:
            link = reset_link(user, now)
            letters[delivery.id] = Letter(user.email, SUBJECT, _text(user, link), _html(user, link))
    return letters


def reset_link(user: User, now: datetime) -> str:
    """Return the address of the reset page with a fresh token for user."""
    return f"{public_link(RESET_PAGE_PATH)}#{reset_token(user, now)}"


def reset_token(user: User, now: datetime) -> str:
    """Return a token that sets user's password once, within LINK_LIFETIME of now."""
    return _serializer(now).dumps([user.id, _fingerprint(user)])


def reset_password(token: str, new_password: str, now: datetime) -> User:
    """Set the password of the account a valid token names, and end every session of it (no commit).

    Raises InvalidInput for a link that expired, was used, or was never
    ours, and for a password the rules refuse (the link stays usable then).
    """
    user = _holder(token, now)
    require_new_password(new_password, user.email, "new_password")
    old_hash = user.password_hash
    # Compare-and-set: of two uses at once, only the first finds the old hash.
    changed = cast("CursorResult[Any]", db.session.execute(
        update(User).where(User.id == user.id, User.password_hash == old_hash)
        .values(password_hash=hash_password(new_password))
        .execution_options(synchronize_session=False)
    )).rowcount
    if changed != 1:
        raise _invalid_link()
    db.session.expire(user, ["password_hash"])
    clear_address(user.email)
    invalidate_tokens(user, now, "password_reset")
    return user


def _holder(token: str, now: datetime) -> User:
    """Return the account a token may reset now, or raise InvalidInput."""
    try:
        user_id, fingerprint = _serializer(now).loads(token, max_age=int(LINK_LIFETIME.total_seconds()))
        if not isinstance(user_id, int) or not isinstance(fingerprint, str):
            raise BadSignature("unexpected payload")
    except (BadSignature, TypeError, ValueError):
        raise _invalid_link() from None
    user = db.session.get(User, user_id)
    if (user is None or not user.is_active or user.password_hash is None
            or not hmac.compare_digest(fingerprint, _fingerprint(user))):
        raise _invalid_link()
    return user


def _fingerprint(user: User) -> str:
    """Return what must still hold for a token to work: the password hash and the token cut-off."""
    cutoff = user.tokens_valid_after.isoformat() if user.tokens_valid_after else ""
    message = f"{user.id}|{user.password_hash}|{cutoff}".encode()
    return hmac.new(_secret().encode(), message, hashlib.sha256).hexdigest()[:32]


def _serializer(now: datetime) -> URLSafeTimedSerializer:
    """Return the token serializer, its clock held at now (the app's clock, which tests freeze)."""
    class _SignerAt(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(now.timestamp())

    return URLSafeTimedSerializer(_secret(), salt=_SALT, signer=_SignerAt,
                                  signer_kwargs={"digest_method": hashlib.sha256})


def _secret() -> str:
    config = current_app.config
    return str(config.get("SECRET_KEY") or config["JWT_SECRET_KEY"])


def _requested_at(period: str) -> datetime:
    return datetime.fromtimestamp(int(period[1:]), tz=timezone.utc)


# --- the e-mail: neutral, no clinical word, the same for every kind of account -------------------

def _text(user: User, link: str) -> str:
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    return (
        f"Hi {_first_name(user)},\n\n"
        "Someone asked to reset the password of the Waypoint account that uses this e-mail address.\n"
        f"To choose a new password, open this link within {minutes} minutes:\n\n"
        f"{link}\n\n"
        "The link works once. Choosing a new password signs you out on every device.\n"
        "If you have more than one Waypoint account with this address, each gets its own e-mail,\n"
        "and each link resets only its own account.\n\n"
        "If you did not ask, ignore this e-mail: your password stays as it is.\n"
    )


def _html(user: User, link: str) -> str:
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    href = escape(link)
    return (
        f"<p>Hi {escape(_first_name(user))},</p>\n"
        "<p>Someone asked to reset the password of the Waypoint account that uses this e-mail address. "
        f"To choose a new password, open this link within {minutes} minutes:</p>\n"
        f'<p><a href="{href}">Choose a new password</a></p>\n'
        "<p>The link works once. Choosing a new password signs you out on every device. "
        "If you have more than one Waypoint account with this address, each gets its own e-mail, "
        "and each link resets only its own account.</p>\n"
        "<p>If you did not ask, ignore this e-mail: your password stays as it is.</p>\n"
    )


def _first_name(user: User) -> str:
    return (user.display_name or "").split(" ")[0] or "there"
