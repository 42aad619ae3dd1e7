"""The caller is built from the token's own row, and behaves as the ORM's load of it would (issue #14).

services.sessions reads the user, profile and organization as plain
columns and puts them in the session through models.base.RowLoader: the
objects must be what a query would have given, clean, persistent and
changeable, and a user the session already holds must keep what it holds.
"""
from sqlalchemy import inspect

from models import User, db
from services.sessions import load_caller
from tests.queries import statements_run


def _fresh_session(user: User) -> tuple[int, str, int]:
    """Commit, empty the session as a new request finds it; return the user's id, e-mail and organization."""
    db.session.commit()
    known = (user.id, user.email, user.organization_id)
    db.session.expunge_all()
    return known


def test_the_built_caller_is_persistent_clean_and_whole(app, patient):
    patient_id, _email, _organization = _fresh_session(patient)
    with statements_run() as statements:
        user = load_caller(patient_id)
        profile, organization = user.patient_profile, user.organization
        assert (profile.user, profile.timezone, organization.name) == (user, "America/New_York", organization.name)

    assert len(statements) == 1  # profile and organization came with the user: no lazy load
    assert all(inspect(instance).persistent for instance in (user, profile, organization))
    assert not db.session.dirty and not db.session.new
    with statements_run() as statements:
        db.session.flush()
    assert statements == []  # built as read: nothing to write back


def test_a_change_to_the_built_caller_is_written(app, patient):
    patient_id, _email, _organization = _fresh_session(patient)
    user = load_caller(patient_id)
    user.display_name = "Renamed"
    db.session.commit()
    db.session.expunge_all()

    assert db.session.get(User, patient_id).display_name == "Renamed"


def test_a_user_the_session_holds_keeps_its_change_and_gets_what_it_had_not_loaded(app, patient):
    patient_id, email, _organization = _fresh_session(patient)
    held = db.session.get(User, patient_id)
    held.display_name = "Not yet flushed"
    db.session.expire(held, ["email"])

    with statements_run() as statements:
        user = load_caller(patient_id)
        email_read = user.email

    assert user is held and user.display_name == "Not yet flushed"
    assert email_read == email and len(statements) == 1  # filled from the caller's row, not a reload


def test_a_patient_without_a_profile_gets_none(app, clinician):
    clinician_id, _email, organization_id = _fresh_session(clinician)
    user = load_caller(clinician_id)

    assert user.patient_profile is None and user.organization.id == organization_id
