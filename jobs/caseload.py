"""The caseload's kept rows recomputed ahead of the views (services.caseload)."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from models import Organization, db, utcnow

from .report import JobReport

log = logging.getLogger("waypoint.jobs")


def caseload_rows(now: datetime | None = None, week: str | None = None) -> JobReport:
    """Recompute every stale caseload row, one organization at a time.

    Run a few times an hour, it follows each zone's midnight (every row there
    turns stale at once) and a busy evening's writes, so a clinician's first
    view of the day reads kept rows instead of computing them all.
    """
    if week is not None:
        raise ValueError("the caseload rows follow each local day; --week does not apply")
    from services.caseload import refresh_kept_rows

    now = now or utcnow()
    recomputed = failed = 0
    for organization_id in db.session.scalars(select(Organization.id).order_by(Organization.id)).all():
        try:
            recomputed += refresh_kept_rows(organization_id, now)
        except Exception:
            db.session.rollback()
            failed += 1
            log.exception("caseload rows not recomputed for organization %s", organization_id)
    return JobReport("caseload-rows", extra={"recomputed": recomputed, "failed_organizations": failed})
