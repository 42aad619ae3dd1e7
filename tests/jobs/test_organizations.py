"""Jobs that work organization by organization: one failure stays with its organization."""
from sqlalchemy import select

from jobs.organizations import per_organization
from models import Organization, db


def test_a_failing_organization_is_rolled_back_and_the_others_still_run(app, make):
    _first, broken, _last = (make.organization(name) for name in ("First", "Broken", "Last"))

    def rename(organization_id: int) -> int:
        organization = db.session.get(Organization, organization_id)
        organization.name += " (done)"
        if organization_id == broken.id:
            db.session.flush()
            raise RuntimeError("this organization's work fails")
        return 2

    done, failed = per_organization("test-job", rename)

    db.session.expire_all()
    assert (done, failed) == (4, 1)
    assert db.session.scalars(select(Organization.name).order_by(Organization.id)).all() == [
        "First (done)", "Broken", "Last (done)"]
