"""The caseload's kept rows recomputed ahead of the views (services.caseload)."""
from __future__ import annotations

from datetime import datetime

from models import utcnow

from .organizations import per_organization
from .report import JobReport


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
    recomputed, failed = per_organization(
        "caseload-rows", lambda organization_id: refresh_kept_rows(organization_id, now))
    return JobReport("caseload-rows", extra={"recomputed": recomputed, "failed_organizations": failed})
