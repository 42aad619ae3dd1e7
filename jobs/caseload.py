"""The caseload's kept rows recomputed ahead of the views (services.caseload)."""
from __future__ import annotations

from datetime import datetime

from models import utcnow
from models.transactions import commit_unit
from services.caseload import refresh_kept_rows

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
    now = now or utcnow()

    def refresh(organization_id: int) -> int:
        recomputed = 0
        # Each batch committed as it comes: its rows are kept (and their
        # locks let go) before the next is computed, so a patient's writer
        # waits for one batch at most, never for the whole organization.
        for batch in refresh_kept_rows(organization_id, now):
            commit_unit()
            recomputed += batch
        return recomputed

    recomputed, failed = per_organization("caseload-rows", refresh)
    return JobReport("caseload-rows", extra={"recomputed": recomputed, "failed_organizations": failed})
