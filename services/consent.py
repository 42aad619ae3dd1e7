"""A patient's consents to share their records (42 CFR Part 2) and the accounting of disclosures.

Two kinds of consent
    * Sharing with the care team at the patient's own program is part of
      enrolment: it is the basis of treatment, not something the app switches
      on or off. No row is stored for it (enrolment, in services.accounts,
      writes none); ``care_team_consent`` synthesizes it from the enrolment,
      dated when the patient was enrolled. It cannot be revoked through the
      API: a patient who wants to stop it talks to the program, which explains
      what that means for their treatment.
    * Sharing outside the program (an outside provider, a named support
      person) needs an explicit consent: a recipient, a purpose, the date it
      was given and optionally the date it ends. The patient may revoke it at
      any time. A revoked consent keeps its row, with ``revoked_at`` set, so
      the accounting of disclosures can always name the consent behind each
      one.

Status
    ``revoked`` once revoked (whatever its expiry), else ``expired`` from its
    ``expires_at`` on, else ``active``. Only an active outside consent
    allows a disclosure.

Accounting of disclosures
    Every disclosure outside the program is one ``Disclosure`` row: when, who
    disclosed, to whom, for what purpose, in which format and what it held.
    The patient reads them with ``list_disclosures``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from models import Consent, ConsentScope, Disclosure, PatientProfile, Role, User, db

from .access import own_profile, patient_in_reach, require_role
from .errors import Conflict, InvalidInput, NotFound
from .paging import one_page

OUTSIDE_SCOPES = (ConsentScope.outside_provider, ConsentScope.support_person)

# Who a consent outside the program names, by scope: a closed list keeps the
# accounting countable and free text to the recipient's name and the purpose.
RECIPIENT_KINDS = {
    ConsentScope.outside_provider: (
        "physician", "therapist", "hospital", "pharmacy", "treatment_program", "other_provider",
    ),
    ConsentScope.support_person: (
        "family_member", "partner", "friend", "sponsor", "other_person",
    ),
}

CARE_TEAM_KIND = "care_team"
CARE_TEAM_PURPOSE = "Treatment and care coordination by your care team at your program"
CARE_TEAM_NOT_REVOCABLE = (
    "Sharing with your care team is part of your treatment at your program, so it cannot be "
    "switched off in the app. If you want to stop it, talk to your program: they will explain "
    "what it means for your treatment and how to end it."
)


@dataclass(frozen=True)
class ConsentView:
    """One consent as the patient and the care team see it, with its status now."""

    id: int | None  # None for the care-team consent, which is not stored
    scope: ConsentScope
    recipient_name: str
    recipient_kind: str
    purpose: str
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    status: str
    revocable: bool


@dataclass(frozen=True)
class ConsentOverview:
    """The care-team consent and every consent to share outside the program, newest first."""

    patient_id: int
    care_team: ConsentView
    outside_program: list[ConsentView]


def consent_status(consent: Consent, now: datetime) -> str:
    """Return active, revoked or expired for a stored consent at instant now."""
    if consent.revoked_at is not None:
        return "revoked"
    if consent.expires_at is not None and consent.expires_at <= now:
        return "expired"
    return "active"


def consent_view(consent: Consent, now: datetime) -> ConsentView:
    """Return a stored consent as the API shows it."""
    status = consent_status(consent, now)
    return ConsentView(
        id=consent.id, scope=consent.scope, recipient_name=consent.recipient_name or "",
        recipient_kind=consent.recipient_kind or "", purpose=consent.purpose or "",
        granted_at=consent.granted_at, expires_at=consent.expires_at,
        revoked_at=consent.revoked_at, status=status,
        revocable=consent.scope is not ConsentScope.care_team and status != "revoked",
    )


def care_team_consent(profile: PatientProfile) -> ConsentView:
    """Return the care-team consent every enrolled patient has, dated at enrolment."""
    organization = profile.user.organization.name
    recipient = f"Care team at {organization}"
    if profile.program is not None:
        recipient += f" ({profile.program.name})"
    return ConsentView(
        id=None, scope=ConsentScope.care_team, recipient_name=recipient,
        recipient_kind=CARE_TEAM_KIND, purpose=CARE_TEAM_PURPOSE, granted_at=profile.enrolled_at,
        expires_at=None, revoked_at=None, status="active", revocable=False,
    )


def consent_overview(profile: PatientProfile, now: datetime) -> ConsentOverview:
    """Return a patient's care-team consent and their consents outside the program."""
    outside = db.session.scalars(
        select(Consent)
        .where(Consent.patient_id == profile.user_id, Consent.scope.in_(OUTSIDE_SCOPES))
        .order_by(Consent.granted_at.desc(), Consent.id.desc())
    ).all()
    return ConsentOverview(
        patient_id=profile.user_id, care_team=care_team_consent(profile),
        outside_program=[consent_view(consent, now) for consent in outside],
    )


def my_consents(patient: User, now: datetime) -> ConsentOverview:
    """Return the caller's own consents."""
    return consent_overview(own_profile(patient), now)


def patient_consents(actor: User, patient_id: int, now: datetime) -> ConsentOverview:
    """Return a patient's consents for their care team or an admin of the organization."""
    profile = patient_in_reach(actor, patient_id)
    require_role(actor, Role.clinician, Role.admin)
    return consent_overview(profile, now)


def grant_consent(patient: User, grant: dict[str, Any], now: datetime) -> ConsentView:
    """Record the patient's consent to share with someone outside the program."""
    scope = ConsentScope(grant["scope"])
    errors: dict[str, list[str]] = {}
    if scope not in OUTSIDE_SCOPES:
        errors["scope"] = ["Sharing with your care team is part of enrolment; choose "
                           "outside_provider or support_person."]
    elif grant["recipient_kind"] not in RECIPIENT_KINDS[scope]:
        errors["recipient_kind"] = [f"For {scope.value}, use one of: {', '.join(RECIPIENT_KINDS[scope])}."]
    expires_at = grant.get("expires_at")
    if expires_at is not None:
        expires_at = expires_at.astimezone(timezone.utc)
    if expires_at is not None and expires_at <= now:
        errors["expires_at"] = ["Must be in the future."]
    if errors:
        raise InvalidInput("The consent has invalid fields.", errors)
    consent = Consent(
        patient_id=patient.id, scope=scope, recipient_name=grant["recipient_name"].strip(),
        recipient_kind=grant["recipient_kind"], purpose=grant["purpose"].strip(), granted_at=now,
        expires_at=expires_at,
    )
    db.session.add(consent)
    db.session.flush()
    return consent_view(consent, now)


def revoke_consent(patient: User, consent_id: int, now: datetime) -> ConsentView:
    """Revoke one of the caller's consents outside the program; the row stays, dated."""
    consent = db.session.scalars(
        select(Consent).where(Consent.id == consent_id, Consent.patient_id == patient.id)
    ).one_or_none()
    if consent is None:
        raise NotFound("No such consent.")
    if consent.scope is ConsentScope.care_team:
        refuse_care_team_revocation()
    # A conditional UPDATE: of two revocations racing, exactly one wins.
    revoked = cast("CursorResult[Any]", db.session.execute(
        update(Consent)
        .where(Consent.id == consent.id, Consent.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )).rowcount
    db.session.refresh(consent)
    if not revoked:
        # Lost the race: the winner's revocation is on the row now.
        revoked_on = cast(datetime, consent.revoked_at).date()
        raise Conflict(f"This consent was already revoked on {revoked_on.isoformat()}.")
    return consent_view(consent, now)


def refuse_care_team_revocation() -> None:
    """Refuse to revoke the care-team consent, explaining why and what to do instead."""
    raise Conflict(CARE_TEAM_NOT_REVOCABLE)


def consent_for_disclosure(profile: PatientProfile, consent_id: int, now: datetime) -> Consent:
    """Return the patient's active consent to share outside the program, locked, or refuse.

    The row is locked (PostgreSQL) until the request commits, so a revocation
    arriving meanwhile waits for the disclosure and is not overtaken by it.
    """
    consent = db.session.scalars(
        select(Consent)
        .where(Consent.id == consent_id, Consent.patient_id == profile.user_id)
        .with_for_update()
    ).one_or_none()
    if consent is None:
        raise InvalidInput("No such consent.", {
            "consent_id": ["This patient has no consent with this id; nothing was disclosed."]})
    if consent.scope not in OUTSIDE_SCOPES:
        raise Conflict("This consent covers the care team at the program, not a disclosure "
                       "outside it; nothing was disclosed.")
    status = consent_status(consent, now)
    # The status is read off these two dates: the one it names is set.
    if status == "revoked":
        raise Conflict(f"The patient revoked this consent on {cast(datetime, consent.revoked_at).date().isoformat()}; "
                       "nothing was disclosed. A new disclosure needs a new consent from the patient.")
    if status == "expired":
        raise Conflict(f"This consent expired on {cast(datetime, consent.expires_at).date().isoformat()}; "
                       "nothing was disclosed. A new disclosure needs a new consent from the patient.")
    return consent


def consent_scope_text(consent: Consent) -> str:
    """Explain what a consent allows, to travel with a disclosure (42 CFR 2.32(b))."""
    text = (f"Disclosed with the patient's written consent of {consent.granted_at.date().isoformat()} "
            f"to {consent.recipient_name} ({(consent.recipient_kind or 'recipient').replace('_', ' ')}) "
            f"for this purpose: {consent.purpose}.")
    if consent.expires_at is not None:
        text += f" The consent expires on {consent.expires_at.date().isoformat()}."
    return text + " The patient may revoke it at any time."


def record_disclosure(actor: User, consent: Consent, data_format: str, description: str,
                      now: datetime) -> Disclosure:
    """Add one disclosure to the patient's accounting of disclosures."""
    disclosure = Disclosure(
        patient_id=consent.patient_id, consent_id=consent.id, disclosed_by_id=actor.id,
        recipient_name=consent.recipient_name, purpose=consent.purpose, data_format=data_format,
        description=description, disclosed_at=now,
    )
    db.session.add(disclosure)
    db.session.flush()
    return disclosure


@dataclass(frozen=True)
class DisclosureEntry:
    """One line of the accounting of disclosures: when, who, to whom, why, what."""

    id: int
    consent_id: int
    disclosed_at: datetime
    disclosed_by: str
    recipient_name: str
    recipient_kind: str
    purpose: str | None
    data_format: str
    description: str


def disclosure_entry(disclosure: Disclosure, recipient_kind: str | None, disclosed_by: str) -> DisclosureEntry:
    """Return a disclosure as the accounting lists it."""
    return DisclosureEntry(
        id=disclosure.id, consent_id=disclosure.consent_id, disclosed_at=disclosure.disclosed_at,
        disclosed_by=disclosed_by, recipient_name=disclosure.recipient_name,
        recipient_kind=recipient_kind or "", purpose=disclosure.purpose,
        data_format=disclosure.data_format, description=disclosure.description,
    )


def list_disclosures(patient: User, page: int, page_size: int) -> tuple[list[DisclosureEntry], int]:
    """Return one page of the caller's accounting of disclosures, newest first, and the total."""
    condition = Disclosure.patient_id == patient.id
    query, total = one_page(
        select(Disclosure, Consent.recipient_kind, User.display_name)
        .join(Consent, Consent.id == Disclosure.consent_id)
        .join(User, User.id == Disclosure.disclosed_by_id)
        .where(condition)
        .order_by(Disclosure.disclosed_at.desc(), Disclosure.id.desc()),
        page, page_size,
    )
    return [disclosure_entry(d, kind, name) for d, kind, name in db.session.execute(query)], total
