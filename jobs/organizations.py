"""Jobs that work through the organizations one at a time."""
from __future__ import annotations

import logging
from collections.abc import Callable

from models import db
from models.transactions import commit_unit
from services.organizations import organization_ids

log = logging.getLogger("waypoint.jobs")


def per_organization(job: str, work: Callable[[int], int]) -> tuple[int, int]:
    """Run work(organization_id) for each organization, each committed on its own.

    Return the sum of what work returned and how many organizations failed:
    one organization's failure is rolled back and logged, and the rest still run.
    """
    done = failed = 0
    for organization_id in organization_ids():
        try:
            done += work(organization_id)
            commit_unit()
        except Exception:
            db.session.rollback()
            failed += 1
            log.exception("%s failed for organization %s", job, organization_id)
    return done, failed
