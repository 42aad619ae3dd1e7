"""Organizations, staff accounts, patient enrolment, invites and care teams."""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from models import (
    DEFAULT_COPING_SKILLS,
    CareTeamMember,
    CopingSkill,
    Invite,
    LevelOfCare,
    LevelOfCareChange,
    Organization,
    PatientProfile,
    Program,
    Role,
    User,
    db,
    savepoint,
)

from .access import patient_in_reach, require_role
from .days import is_known_timezone, local_today
from .errors import Conflict, InvalidInput, NotFound
from .lockout import LockoutPolicy, address_lockout, clear_address, raise_if_paused, record_address_failure
from .paging import one_page
from .passwords import hash_password, require_new_password, verify_password
from .sessions import invalidate_tokens

# Unambiguous to read aloud or type from paper: no 0/O, 1/I/L.
_INVITE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_INVITE_LENGTH = 12


@dataclass(frozen=True)
class IssuedInvite:
    """An invite code as handed to the patient: shown once, never stored in clear."""

    code: str
    expires_at: datetime


def get_or_create_organization(name: str) -> Organization:
    """Return the organization called name, creating it with the default catalogue."""
    organization = db.session.scalars(
        select(Organization).where(Organization.name == name)
    ).one_or_none()
    if organization is None:
        organization = Organization(name=name)
        db.session.add(organization)
        db.session.flush()
        for code, label in DEFAULT_COPING_SKILLS:
            db.session.add(CopingSkill(organization_id=organization.id, code=code, label=label))
        db.session.flush()
    return organization


def create_staff_user(
    organization: Organization, role: Role, email: str, password: str, display_name: str
) -> User:
    """Create a clinician or admin account."""
    if role is Role.patient:
        raise InvalidInput("Patients are enrolled, not created.", {"role": ["Patients are enrolled by their clinic."]})
    email = _normalise_email(email)
    require_new_password(password, email)
    _ensure_email_free(email, organization.id)
    user = User(
        organization_id=organization.id, email=email, display_name=display_name,
        role=role, password_hash=hash_password(password),
    )
    db.session.add(user)
    db.session.flush()
    return user


def enrol_patient(actor: User, enrolment: dict[str, Any], now: datetime) -> tuple[PatientProfile, IssuedInvite]:
    """Enrol a patient and return the profile with a fresh invite code.

    A clinician who enrols joins the care team, so the patient is never
    enrolled without someone watching over them.
    """
    require_role(actor, Role.clinician, Role.admin)
    errors = {}
    if not is_known_timezone(enrolment["timezone"]):
        errors["timezone"] = ["Not a known IANA time zone (e.g. America/New_York)."]
    program = None
    if enrolment.get("program_id") is not None:
        program = db.session.scalars(
            select(Program).where(
                Program.id == enrolment["program_id"],
                Program.organization_id == actor.organization_id,
            )
        ).one_or_none()
        if program is None:
            errors["program_id"] = ["No such program in your organization."]
    recovery_start = enrolment.get("recovery_start_date")
    if (recovery_start and not errors.get("timezone")
            and recovery_start > local_today(now, enrolment["timezone"])):
        errors["recovery_start_date"] = ["Must not be in the future."]
    if errors:
        raise InvalidInput("The enrolment has invalid fields.", errors)
    email = _normalise_email(enrolment["email"])
    _ensure_email_free(email, actor.organization_id)

    user = User(
        organization_id=actor.organization_id, email=email,
        display_name=enrolment["display_name"], role=Role.patient,
    )
    try:
        # Two enrolments of one e-mail at once both pass the check above;
        # the unique index decides, and the loser hears 409, not a 500.
        with savepoint():
            db.session.add(user)
            db.session.flush()
    except IntegrityError:
        raise Conflict("This e-mail already has an account.", {"email": ["Already in use."]}) from None
    level = LevelOfCare(enrolment["level_of_care"])
    profile = PatientProfile(
        user_id=user.id, timezone=enrolment["timezone"], recovery_start_date=recovery_start,
        level_of_care=level, program_id=program.id if program else None,
        enrolled_at=now, enrolled_by_id=actor.id,
    )
    db.session.add(profile)
    db.session.flush()
    db.session.add(LevelOfCareChange(
        patient_id=user.id, level_of_care=level, changed_by_id=actor.id, changed_at=now,
        effective_date=local_today(now, profile.timezone), note="Enrolled",
    ))
    if actor.role is Role.clinician:
        db.session.add(CareTeamMember(
            patient_id=user.id, clinician_id=actor.id, added_at=now, added_by_id=actor.id,
        ))
    invite = _new_invite(actor, profile, now)
    db.session.flush()
    return profile, invite


def reissue_invite(actor: User, patient_id: int, now: datetime) -> IssuedInvite:
    """Replace a patient's invite (lost or expired) before they have registered."""
    profile = patient_in_reach(actor, patient_id)
    require_role(actor, Role.clinician, Role.admin)
    if profile.user.password_hash is not None:
        raise Conflict("This patient has already registered.")
    for invite in db.session.scalars(
        select(Invite).where(Invite.patient_id == profile.user_id, Invite.used_at.is_(None))
    ):
        invite.expires_at = min(invite.expires_at, now)
    issued = _new_invite(actor, profile, now)
    db.session.flush()
    return issued


def register_patient(invite_code: str, email: str, password: str, now: datetime) -> User:
    """Turn an invite into a patient account with a password.

    The e-mail must be the one the clinic enrolled, so a code read off
    someone's paper is no use on its own.
    """
    invite = db.session.scalars(
        select(Invite).where(Invite.code_hash == _hash_code(invite_code)).with_for_update()
    ).one_or_none()
    user = db.session.get(User, invite.patient_id) if invite else None
    if (
        invite is None or invite.used_at is not None or invite.expires_at <= now
        or user is None or user.email != _normalise_email(email) or not user.is_active
    ):
        raise InvalidInput(
            "The invite code is not valid for this e-mail, or has been used or has expired.",
            {"invite_code": ["Invalid, used or expired invite code for this e-mail."]},
        )
    require_new_password(password, user.email)
    invite.used_at = now
    user.password_hash = hash_password(password)
    db.session.flush()
    return user


def set_care_team(actor: User, patient_id: int, clinician_ids: list[int], now: datetime) -> PatientProfile:
    """Make exactly these clinicians the patient's care team (admin only)."""
    profile = patient_in_reach(actor, patient_id)
    require_role(actor, Role.admin)
    wanted = set(clinician_ids)
    found = set(db.session.scalars(
        select(User.id).where(
            User.id.in_(wanted), User.role == Role.clinician,
            User.organization_id == actor.organization_id,
        )
    ))
    if missing := sorted(wanted - found):
        raise InvalidInput(
            "Some ids are not clinicians of your organization.",
            {"clinician_ids": [f"No clinician with id {i} in your organization." for i in missing]},
        )
    current = set(db.session.scalars(
        select(CareTeamMember.clinician_id).where(CareTeamMember.patient_id == profile.user_id)
    ))
    if removed := current - wanted:
        db.session.execute(delete(CareTeamMember).where(
            CareTeamMember.patient_id == profile.user_id,
            CareTeamMember.clinician_id.in_(removed),
        ))
    for clinician_id in sorted(wanted - current):
        db.session.add(CareTeamMember(
            patient_id=profile.user_id, clinician_id=clinician_id, added_at=now, added_by_id=actor.id,
        ))
    db.session.flush()
    db.session.expire(profile)
    return profile


def change_level_of_care(
    actor: User, patient_id: int, level: LevelOfCare, effective_date: date | None,
    note: str | None, now: datetime,
) -> LevelOfCareChange:
    """Step a patient up or down; the change is kept as history."""
    profile = patient_in_reach(actor, patient_id)
    require_role(actor, Role.clinician, Role.admin)
    today = local_today(now, profile.timezone)
    effective_date = effective_date or today
    if effective_date > today + timedelta(days=366):
        raise InvalidInput("Too far ahead.", {"effective_date": ["Must be within a year from today."]})
    change = LevelOfCareChange(
        patient_id=profile.user_id, level_of_care=level, effective_date=effective_date,
        note=note, changed_by_id=actor.id, changed_at=now,
    )
    db.session.add(change)
    profile.level_of_care = level
    db.session.flush()
    return change


def create_program(actor: User, name: str) -> Program:
    """Add a treatment program to the actor's organization (admin only)."""
    require_role(actor, Role.admin)
    taken = db.session.scalar(select(func.count()).select_from(Program).where(
        Program.organization_id == actor.organization_id, Program.name == name,
    ))
    if taken:
        raise Conflict("A program with this name already exists.", {"name": ["Already exists."]})
    program = Program(organization_id=actor.organization_id, name=name)
    db.session.add(program)
    db.session.flush()
    return program


def list_clinicians(actor: User) -> list[User]:
    """Return the organization's active clinicians, by name: whom an admin may put on a care team."""
    require_role(actor, Role.admin)
    return list(db.session.scalars(
        select(User).where(User.organization_id == actor.organization_id, User.role == Role.clinician,
                           User.is_active.is_(True))
        .order_by(User.display_name, User.id)
    ))


def list_programs(actor: User) -> list[Program]:
    """Return the programs of the actor's organization."""
    require_role(actor, Role.clinician, Role.admin)
    return list(db.session.scalars(
        select(Program).where(Program.organization_id == actor.organization_id).order_by(Program.name)
    ))


def list_coping_skills(organization_id: int) -> list[CopingSkill]:
    """Return the organization's active coping-skill catalogue."""
    return list(db.session.scalars(
        select(CopingSkill).where(
            CopingSkill.organization_id == organization_id, CopingSkill.active.is_(True)
        ).order_by(CopingSkill.id)
    ))


def add_coping_skill(actor: User, code: str, label: str) -> CopingSkill:
    """Add a skill to the organization's catalogue (admin only)."""
    require_role(actor, Role.admin)
    existing = db.session.scalars(select(CopingSkill).where(
        CopingSkill.organization_id == actor.organization_id, CopingSkill.code == code,
    )).one_or_none()
    if existing is not None:
        raise Conflict("This code is already in the catalogue.", {"code": ["Already in the catalogue."]})
    skill = CopingSkill(organization_id=actor.organization_id, code=code, label=label)
    db.session.add(skill)
    db.session.flush()
    return skill


def _new_invite(actor: User, profile: PatientProfile, now: datetime) -> IssuedInvite:
    code = "".join(secrets.choice(_INVITE_ALPHABET) for _ in range(_INVITE_LENGTH))
    expires_at = now + timedelta(hours=actor.organization.invite_valid_hours)
    db.session.add(Invite(
        patient_id=profile.user_id, code_hash=_hash_code(code), created_by_id=actor.id,
        created_at=now, expires_at=expires_at,
    ))
    return IssuedInvite(code, expires_at)


def _hash_code(code: str) -> str:
    normalised = code.strip().upper().replace("-", "").replace(" ", "")
    return hashlib.sha256(normalised.encode()).hexdigest()


def _normalise_email(email: str) -> str:
    return email.strip().lower()


def _ensure_email_free(email: str, organization_id: int) -> None:
    # Within the organization only: whether another program knows the address is not ours to tell.
    if db.session.scalar(select(func.count()).select_from(User).where(
            User.organization_id == organization_id, User.email == email)):
        raise Conflict("This e-mail already has an account.", {"email": ["Already in use."]})


def list_patients(actor: User, page: int, page_size: int) -> tuple[list[PatientProfile], int]:
    """Return one page of the patients in the actor's reach, by name."""
    require_role(actor, Role.clinician, Role.admin)
    query = (
        select(PatientProfile).join(User, User.id == PatientProfile.user_id)
        .where(User.organization_id == actor.organization_id)
    )
    if actor.role is Role.clinician:
        query = query.join(CareTeamMember, CareTeamMember.patient_id == PatientProfile.user_id).where(
            CareTeamMember.clinician_id == actor.id
        )
    query, total = one_page(query.order_by(User.display_name, User.id), page, page_size)
    return list(db.session.scalars(query)), total


# --- hardened accounts: password change, logout everywhere, disable/enable ------------

class WrongCurrentPassword(InvalidInput):
    """The current password given to change it is wrong (it counts as a failed login)."""


def change_password(user: User, current_password: str, new_password: str, now: datetime,
                    policy: LockoutPolicy = LockoutPolicy()) -> None:
    """Set a new password and kill every token the user holds.

    A wrong current password counts towards the address's pause on sign-in,
    so a stolen access token cannot be used to guess it; the caller must
    commit that count. While sign-in is paused the current password is not
    checked (LoginPaused).
    """
    raise_if_paused(address_lockout(user.email), now)
    if not verify_password(user.password_hash, current_password):
        record_address_failure(user.email, now, policy)
        raise WrongCurrentPassword("The current password is wrong.",
                                   {"current_password": ["Does not match your password."]})
    require_new_password(new_password, user.email, "new_password")
    if verify_password(user.password_hash, new_password):
        raise InvalidInput("The new password is the current one.",
                           {"new_password": ["Choose a password different from the current one."]})
    user.password_hash = hash_password(new_password)
    clear_address(user.email)
    invalidate_tokens(user, now, "password_change")


def logout_everywhere(user: User, now: datetime) -> None:
    """End every session of user on every device."""
    invalidate_tokens(user, now, "logout_everywhere")


def set_account_active(actor: User, user_id: int, active: bool, now: datetime) -> User:
    """Disable (every token dies at once) or re-enable an account of the admin's organization.

    Re-enabling also lifts a lockout. An admin cannot disable themself, so an
    organization is never left without a way back in by accident.
    """
    require_role(actor, Role.admin)
    user = db.session.scalars(
        select(User).where(User.id == user_id, User.organization_id == actor.organization_id)
    ).one_or_none()
    if user is None:
        raise NotFound("No such account.")
    if user.id == actor.id and not active:
        raise Conflict("You cannot disable your own account.", {"user_id": ["Ask another admin."]})
    user.is_active = active
    if active:
        clear_address(user.email)
    else:
        invalidate_tokens(user, now, "account_disabled")
    db.session.flush()
    return user
