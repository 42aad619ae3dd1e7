"""The alert rules' daily pass: disengagement for patients who went quiet (services.alerts)."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from models import Organization, db, utcnow

from .report import JobReport

log = logging.getLogger("waypoint.jobs")


def alerts_daily_pass(now: datetime | None = None, week: str | None = None) -> JobReport:
    """Raise or repeat disengagement alerts, one organization (and one commit) at a time."""
    if week is not None:
        raise ValueError("the alerts' daily pass runs per day; --week does not apply")
    from services.alerts import daily_absence_pass

    now = now or utcnow()
    alerts = failed = 0
    for organization_id in db.session.scalars(select(Organization.id).order_by(Organization.id)).all():
        try:
            alerts += daily_absence_pass(now, organization_id)
            db.session.commit()
        except Exception:
            db.session.rollback()
            failed += 1
            log.exception("alerts daily pass failed for organization %s", organization_id)
    return JobReport("alerts-daily-pass", extra={"alerts": alerts, "failed_organizations": failed})
