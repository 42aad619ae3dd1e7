"""One patient's charts: the care team's dashboard, and the trends the patient and their care team read."""
from datetime import datetime, timedelta
from typing import Any

from models import Role, User

from .access import patient_in_reach, require_role
from .alert_inbox import list_alerts
from .assessment_history import latest_scores, score_history
from .attendance import attendance_by_patient, recent_attendance, treatment_start, weekly_attendance
from .days import local_today
from .goals import goals_by_patient, weekly_completion
from .history import checkin_histories, enrolled_on, history_of
from .risk import assess_risk
from .trends import patient_trends


def trends_for(actor: User, patient_id: int, now: datetime, window: int) -> dict[str, Any]:
    """Return a patient's trends (any actor who reaches the patient)."""
    profile = patient_in_reach(actor, patient_id)
    today = local_today(now, profile.timezone)
    history = history_of(checkin_histories([profile.user_id]), profile.user_id)
    return patient_trends(history.records, today, profile.recovery_start_date, window,
                          in_treatment_since=enrolled_on(profile)).to_dict()


def patient_dashboard(actor: User, patient_id: int, now: datetime, days: int = 90) -> dict[str, Any]:
    """Return everything the care team charts for one patient, in one response."""
    profile = patient_in_reach(actor, patient_id)
    # The risk flag and its reasons are decision support for the care team;
    # the patient has /me/summary and /me/trends.
    require_role(actor, Role.clinician, Role.admin)
    today = local_today(now, profile.timezone)
    history = history_of(checkin_histories([profile.user_id]), profile.user_id)
    by_day = {record.day: record for record in history.records}
    series = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        record = by_day.get(day)
        series.append({
            "date": day, "checked_in": record is not None,
            "craving": record.craving if record else None, "mood": record.mood if record else None,
            "sleep_hours": record.sleep_hours if record else None,
            "used_substance": record.used_substance if record else None,
            "late": record.late if record else None,
        })
    weeks = 8
    since = today - timedelta(days=7 * weeks + 7)
    sessions = attendance_by_patient([profile.user_id], since)[profile.user_id]
    changes = [(c.effective_date, c.level_of_care) for c in profile.level_of_care_history]
    attendance_weeks = weekly_attendance(sessions, today, weeks, profile.level_of_care,
                                         treatment_start=treatment_start(profile), level_changes=changes)
    goal_weeks = weekly_completion(goals_by_patient([profile.user_id], since)[profile.user_id], today, weeks)
    scores = latest_scores([profile.user_id])[profile.user_id]
    attended = recent_attendance(sessions, today)
    risk = assess_risk(
        history.records, today, self_harm_days=history.self_harm_days,
        latest_scores={code: {**s, "local_day": s["local_day"].isoformat()} for code, s in scores.items()},
        attendance_rate=attended["rate"], attended_sessions=attended["attended"] + attended["missed"],
        in_treatment_since=enrolled_on(profile), recovery_start=profile.recovery_start_date,
    )
    return {
        "patient": profile,
        "today": today,
        "days": days,
        "series": series,
        "trends": patient_trends(history.records, today, profile.recovery_start_date, 28,
                                 in_treatment_since=enrolled_on(profile)).to_dict(),
        "goals": [{"week_start": w.week_start, "done": w.done, "total": w.total,
                   "rate": None if w.rate is None else round(100 * w.rate, 1)} for w in goal_weeks],
        "attendance": [{
            "week_start": w.week_start, "level_of_care": w.level_of_care.value, "attended": w.attended,
            "missed": w.missed, "excused": w.excused, "hours_attended": w.hours_attended,
            "planned_hours": [w.planned_hours_min, w.planned_hours_max], "plan_status": w.plan_status,
            "in_progress": w.in_progress,
        } for w in attendance_weeks],
        "scores": score_history(profile.user_id),
        "risk": risk.to_dict(),
        "alerts": list_alerts(actor, patient_id=profile.user_id, page_size=200)[0],
    }
