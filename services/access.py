"""Who may see which patient: the single object-level access rule."""
from sqlalchemy import exists, select

from models import CareTeamMember, PatientProfile, Role, User, db

from .errors import NotAllowed, NotFound


def patient_in_reach(actor: User, patient_id: int) -> PatientProfile:
    """Return the patient's profile if actor may see it, else raise NotFound.

    A patient reaches only themself, a clinician only patients on whose care
    team they are, an admin every patient of their organization. Anything
    else is indistinguishable from a record that does not exist.
    """
    query = (
        select(PatientProfile)
        .join(User, User.id == PatientProfile.user_id)
        .where(PatientProfile.user_id == patient_id)
        .where(User.organization_id == actor.organization_id)
    )
    if actor.role is Role.patient:
        query = query.where(PatientProfile.user_id == actor.id)
    elif actor.role is Role.clinician:
        query = query.where(
            exists().where(
                CareTeamMember.patient_id == PatientProfile.user_id,
                CareTeamMember.clinician_id == actor.id,
            )
        )
    profile = db.session.scalars(query).one_or_none()
    if profile is None:
        raise NotFound("No such patient.")
    return profile


def own_profile(patient: User) -> PatientProfile:
    """Return the caller's own patient profile; refuse a caller who is not an enrolled patient."""
    if patient.patient_profile is None:
        raise NotAllowed("Only an enrolled patient has records of their own.")
    return patient.patient_profile


def require_role(actor: User, *roles: Role) -> None:
    """Refuse an actor whose role may not use this function at all.

    For a route that names a patient, call it after patient_in_reach: out of
    reach must answer 404 whatever the role, never a 403 that confirms the
    patient exists.
    """
    if actor.role not in roles:
        raise NotAllowed("Your role may not do this.")
