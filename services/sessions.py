"""Login sessions and the rotation of their refresh tokens."""
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Row, Table, bindparam, select, update
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from models import AuthSession, LoginDevice, Organization, PatientProfile, Role, User, db, utcnow
from models.base import RowLoader

from .errors import AuthenticationFailed, SessionExpired
from .lockout import (
    LockoutPolicy,
    address_lockout,
    clear_address,
    forget_devices,
    raise_if_paused,
    record_address_failure,
    record_device_failure,
    remember_device,
    trusted_device,
)
from .passwords import verify_password

# Every login verifies at least this many password hashes (the dummy hash
# makes up the count), so its time does not tell whether the address has an
# account in a second organization: that would say the person is in
# treatment at another program (42 CFR Part 2). Two covers the common case, a
# patient who moved programs; each account past two costs one verification
# more (about 20 ms), which only an address in three or more programs shows.
LOGIN_VERIFICATIONS = 2


@dataclass(frozen=True)
class SignIn:
    """Who signed in, and the device they did it from (now trusted)."""

    user: User
    device: LoginDevice


def authenticate(email: str, password: str, now: datetime | None = None,
                 policy: LockoutPolicy = LockoutPolicy(), device_id: str | None = None) -> SignIn:
    """Return who signed in with these credentials, or raise AuthenticationFailed.

    Every refusal (unknown e-mail, wrong password, not registered, disabled)
    is the same AuthenticationFailed, and every login verifies
    LOGIN_VERIFICATIONS password hashes (more only for an address with more
    accounts), so neither the answer nor its timing tells them apart, nor
    one account from two.

    Wrong passwords pause the address's sign-in (LoginPaused, raised before
    the password counts, whatever it is), known address or not. device_id,
    from a verified device token, names a device that signed in to this
    address before: its sign-ins pass the address's pause and its wrong
    passwords pause only itself. The caller must commit the counts.
    """
    now = now or utcnow()
    # An address may have an account in more than one organization (never
    # two in one): the password says which. Newest first, so a patient who
    # moved programs with the same password signs in to the current one.
    candidates = db.session.scalars(
        select(User).where(User.email == email.strip().lower()).order_by(User.id.desc())
    ).all()
    verified = [(user, verify_password(user.password_hash, password)) for user in candidates]
    for _ in range(LOGIN_VERIFICATIONS - len(candidates)):
        verify_password(None, password)
    device = trusted_device(device_id, email)
    raise_if_paused(device if device is not None else address_lockout(email), now)
    matching = [user for user, matches in verified if matches and user.is_active]
    if not matching:
        if device is not None:
            record_device_failure(device, now, policy)
        else:
            record_address_failure(email, now, policy)
        raise AuthenticationFailed("Wrong e-mail or password.")
    if device is None:
        # The guesses were this client's, or are forgiven by the right password.
        clear_address(email)
    return SignIn(matching[0], remember_device(device, email, now))


def start_session(user: User, refresh_jti: str, now: datetime, session_id: str | None = None) -> AuthSession:
    """Open a login session whose current refresh token is refresh_jti."""
    session = AuthSession(
        id=session_id or new_session_id(), user_id=user.id,
        current_refresh_jti=refresh_jti, created_at=now,
    )
    db.session.add(session)
    db.session.flush()
    return session


def new_session_id() -> str:
    """Return a fresh session (refresh-token family) id."""
    return str(uuid.uuid4())


class RefreshReused(AuthenticationFailed):
    """A refresh token that was already rotated away was presented again."""


# How long a session lives from its sign-in, however often it is refreshed
# (ASVS 5.0, 7.3.2): a stolen refresh token cannot be kept alive forever.
SESSION_LIFETIME = timedelta(days=30)


def rotate_refresh(session_id: str, presented_jti: str, new_jti: str, now: datetime,
                   lifetime: timedelta = SESSION_LIFETIME) -> AuthSession:
    """Make new_jti the session's only valid refresh token.

    Presenting a token that was already rotated away means someone holds a
    copy: the whole session is revoked (the caller must commit that) and
    RefreshReused is raised. A session past its lifetime is ended (commit
    that too) and SessionExpired raised.
    """
    session = db.session.scalars(
        select(AuthSession).where(AuthSession.id == session_id).with_for_update()
    ).one_or_none()
    if session is None or session.revoked_at is not None:
        raise AuthenticationFailed("This session has ended; log in again.")
    if now >= session.created_at + lifetime:
        session.revoked_at = now
        session.revoked_reason = "expired"
        db.session.flush()
        raise SessionExpired("This session has reached its time limit; log in again.")
    if session.current_refresh_jti != presented_jti:
        session.revoked_at = now
        session.revoked_reason = "refresh_reuse"
        db.session.flush()
        raise RefreshReused("This refresh token was already used; the session is revoked.")
    session.current_refresh_jti = new_jti
    session.last_refreshed_at = now
    db.session.flush()
    return session


def end_session(session_id: str, now: datetime) -> None:
    """Revoke a session: its access and refresh tokens stop working."""
    session = db.session.get(AuthSession, session_id)
    if session is not None and session.revoked_at is None:
        session.revoked_at = now
        session.revoked_reason = "logout"
        db.session.flush()


def last_active(session_id: str) -> datetime:
    """Return when the session last signed in or refreshed (the web pages' idle sign-out reads it)."""
    session = db.session.get(AuthSession, session_id)
    if session is None:
        raise AuthenticationFailed("This session has ended; log in again.")
    return session.last_refreshed_at or session.created_at


def end_all_sessions(user: User, now: datetime, reason: str) -> int:
    """Revoke every open session of user; return how many were open."""
    result = db.session.execute(
        update(AuthSession).where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    db.session.flush()
    return int(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult


def invalidate_tokens(user: User, now: datetime, reason: str) -> None:
    """Kill every token user holds: tokens valid after now, every session revoked, no device trusted."""
    user.tokens_valid_after = now
    end_all_sessions(user, now, reason)
    forget_devices(user.email)
    db.session.flush()


class TokenHolder(NamedTuple):
    """Who a live token speaks for, as far as every request needs to know: read without building the user."""

    user_id: int
    role: Role
    organization_id: int
    is_active: bool
    has_patient_profile: bool


def token_holder(user_id: int | None, session_id: str | None, issued_at: int | None) -> TokenHolder | None:
    """Return who a live token speaks for, or None when the token is dead.

    Dead: its session is revoked, unknown or another user's, or it predates
    the user's tokens_valid_after (issued_before_cutoff). A disabled user's
    token is not dead here (is_active says so): the caller refuses it with
    its own answer.

    One narrow statement and no User object, for a view that needs only
    who the caller is: building the user through the ORM was a quarter of
    the cheapest read.
    """
    if user_id is None or session_id is None or issued_at is None:
        return None
    # On the session's connection: through the session, a statement that
    # builds no object still pays the ORM's execute stages (6 % of the floor).
    row = db.session.connection().execute(_TOKEN_HOLDER, {"session_id": session_id, "user_id": user_id}).first()
    if row is None or not _token_live(row, issued_at):
        return None
    return TokenHolder(user_id, row.role, row.organization_id, row.is_active, row.profile is not None)


def token_holder_user(user_id: int | None, session_id: str | None, issued_at: int | None) -> User | None:
    """Return the user a live token speaks for, with patient profile and organization, or None when it is dead.

    What token_holder checks, and the user built from the same statement,
    for the views that read the user next (most of them).
    """
    if user_id is None or session_id is None or issued_at is None:
        return None
    row = db.session.connection().execute(_TOKEN_HOLDER_USER, {"session_id": session_id, "user_id": user_id}).first()
    # Liveness from the row itself, never from a user the session already held.
    if row is None or not _token_live(row, issued_at):
        return None
    return _whole_user(row[len(_LIVENESS):])


def holder_of(user: User) -> TokenHolder:
    """Return what token_holder would, from a user token_holder_user built."""
    return TokenHolder(user.id, user.role, user.organization_id, user.is_active, user.patient_profile is not None)


def load_caller(user_id: int) -> User:
    """Return the token holder's user with patient profile and organization (after token_holder)."""
    row = db.session.connection().execute(_CALLER, {"user_id": user_id}).first()
    user = None if row is None else _whole_user(row)
    if user is None or not user.is_active:
        raise AuthenticationFailed("Unknown or disabled account.")
    return user


def _token_live(row: Row[Any], issued_at: int) -> bool:
    return row.revoked_at is None and not issued_before_cutoff(issued_at, row.created_at, row.tokens_valid_after)


def _whole_user(values: Any) -> User:
    """Put the user of a _WHOLE_USER row in the session, with its organization and patient profile (or None)."""
    session = db.session()
    user = _USER_ROW.load(session, values[:_PROFILE_AT])
    organization = _ORGANIZATION_ROW.load(session, values[_ORGANIZATION_AT:])
    profile = None if values[_PROFILE_AT] is None else _PROFILE_ROW.load(
        session, values[_PROFILE_AT:_ORGANIZATION_AT])
    # As the joined load set them where not loaded yet: read, not changes to flush.
    _read_as(user, "organization", organization)
    _read_as(user, "patient_profile", profile)
    if profile is not None:
        _read_as(profile, "user", user)
    return user


def _read_as(instance: User | PatientProfile, relationship: str, value: Any) -> None:
    if relationship in instance_state(instance).unloaded:
        set_committed_value(instance, relationship, value)


# Built once: every authenticated request runs one of the first two.
_LIVENESS = (AuthSession.revoked_at, AuthSession.created_at, User.tokens_valid_after)
_THIS_SESSION = (AuthSession.id == bindparam("session_id"), AuthSession.user_id == bindparam("user_id"))
_TOKEN_HOLDER = (
    select(*_LIVENESS, User.role, User.organization_id, User.is_active, PatientProfile.user_id.label("profile"))
    .join(User, AuthSession.user_id == User.id)
    .outerjoin(PatientProfile, PatientProfile.user_id == User.id)
    .where(*_THIS_SESSION)
)
# The caller with profile and organization, as plain columns of their
# tables: on the session's connection, built by RowLoader, where the ORM's
# joined load set up its loading machinery for the one row on every request.
_USERS, _PROFILES, _ORGANIZATIONS, _SESSIONS = (
    cast(Table, model.__table__) for model in (User, PatientProfile, Organization, AuthSession))
_USER_ROW = RowLoader(User, list(_USERS.c))
_PROFILE_ROW = RowLoader(PatientProfile, list(_PROFILES.c))
_ORGANIZATION_ROW = RowLoader(Organization, list(_ORGANIZATIONS.c))
_PROFILE_AT = len(_USERS.c)
_ORGANIZATION_AT = _PROFILE_AT + len(_PROFILES.c)
_WHOLE_USER = (*_USERS.c, *_PROFILES.c, *_ORGANIZATIONS.c)
_WITH_ORGANIZATION = _ORGANIZATIONS.c.id == _USERS.c.organization_id
_WITH_PROFILE = _PROFILES.c.user_id == _USERS.c.id
_TOKEN_HOLDER_USER = (
    select(*_LIVENESS, *_WHOLE_USER)
    .select_from(_SESSIONS.join(_USERS, _SESSIONS.c.user_id == _USERS.c.id)
                 .join(_ORGANIZATIONS, _WITH_ORGANIZATION).outerjoin(_PROFILES, _WITH_PROFILE))
    .where(*_THIS_SESSION)
)
_CALLER = (
    select(*_WHOLE_USER)
    .select_from(_USERS.join(_ORGANIZATIONS, _WITH_ORGANIZATION).outerjoin(_PROFILES, _WITH_PROFILE))
    .where(_USERS.c.id == bindparam("user_id"))
)


def issued_before_cutoff(issued_at: int, session_started: datetime, cutoff: datetime | None) -> bool:
    """Tell whether a token was issued before cutoff (the user's tokens_valid_after).

    A JWT's iat is in whole seconds, so it cannot tell a token issued just
    before the cut-off from the fresh pair issued just after it in the same
    second. iat decides across seconds (strictly earlier second: dead); within
    the cut-off's own second the token's session decides, by the instant it
    started (microseconds): a session started before the cut-off is dead, the
    session the password change itself opened is not. (The cut-off also
    revokes every open session, so this is the second of two locks.)
    """
    if cutoff is None:
        return False
    if issued_at < int(cutoff.timestamp()):
        return True
    return session_started < cutoff
