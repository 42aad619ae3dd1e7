"""The alert rules' daily pass: disengagement for patients who went quiet (services.alerts)."""
from __future__ import annotations

from datetime import datetime

from models import utcnow
from services.alerts import daily_absence_pass

from .organizations import per_organization
from .report import JobReport


def alerts_daily_pass(now: datetime | None = None, week: str | None = None) -> JobReport:
    """Raise or repeat disengagement alerts, one organization (and one commit) at a time."""
    if week is not None:
        raise ValueError("the alerts' daily pass runs per day; --week does not apply")
    now = now or utcnow()
    alerts, failed = per_organization(
        "alerts-daily-pass", lambda organization_id: daily_absence_pass(now, organization_id))
    return JobReport("alerts-daily-pass", extra={"alerts": alerts, "failed_organizations": failed})
