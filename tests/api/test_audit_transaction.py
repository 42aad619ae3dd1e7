"""A read's audit event rides in the read's own transaction, never in one that wrote something to undo."""
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from api.database import transaction_wrote
from models import AuditEvent, CopingSkill, User, db
from tests.factories import bearer, login


def test_a_transaction_that_only_read_has_nothing_to_undo(app, patient):
    session = db.session()
    session.rollback()
    assert not transaction_wrote(session)
    session.scalars(select(User)).all()
    assert not transaction_wrote(session)


def test_pending_changes_a_write_or_a_failed_statement_count_as_something_to_undo(app, patient, organization):
    session = db.session()
    session.rollback()
    session.add(CopingSkill(organization_id=organization.id, code="walk-test", label="A walk"))
    assert transaction_wrote(session)
    session.rollback()

    session.execute(text("UPDATE users SET display_name = display_name WHERE id = :id"), {"id": patient.id})
    assert transaction_wrote(session)
    session.rollback()
    assert not transaction_wrote(session)  # a new transaction starts clean

    with pytest.raises(DBAPIError):
        session.execute(text("SELECT no_such_column FROM users"))
    assert transaction_wrote(session)
    session.rollback()


def test_a_refused_write_is_undone_while_its_event_is_kept(client, patient):
    headers = bearer(login(client, patient.email).json["access_token"])
    before = db.session.scalar(select(db.func.count()).select_from(AuditEvent))

    refused = client.put("/api/v1/me/checkins/2026-11-23", headers={**headers, "If-Match": '"999"'},
                         json={"craving": 3})

    assert refused.status_code >= 400
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count()).select_from(AuditEvent)) == before + 1
    assert db.session.execute(text("SELECT count(*) FROM checkins")).scalar() == 0
