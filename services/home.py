"""The patient's home screen (GET /me/summary): today's status, streaks and what is due.

Not the weekly e-mail's summary (services.summaries, services.weekly_summary):
this one is of today, for the patient who opens the app.
"""
from datetime import datetime
from typing import Any

from models import User

from .access import own_profile
from .assessments import due_assessments
from .days import local_today
from .goals import goal_week
from .history import checkin_histories, enrolled_on, history_of
from .trends import abstinence


def home_screen(patient: User, now: datetime) -> dict[str, Any]:
    """Return the patient's home screen: today's status, streaks, what is due."""
    profile = own_profile(patient)
    today = local_today(now, profile.timezone)
    history = history_of(checkin_histories([patient.id]), patient.id)
    streaks = abstinence(history.records, today, profile.recovery_start_date,
                         in_treatment_since=enrolled_on(profile))
    due = due_assessments(patient, now)
    goals = goal_week(patient, None, now).completion
    return {
        "today": today,
        "checked_in_today": any(r.day == today for r in history.records),
        "current_streak": streaks.current_streak,
        "longest_streak": streaks.longest_streak,
        "days_since_recovery_start": streaks.days_since_recovery_start,
        "percent_days_abstinent_30": streaks.pda_for(30).to_dict(),
        "assessments_due": [{"instrument": o.instrument, "assignment_id": o.assignment_id,
                             "occurrence_on": o.occurrence_on, "due_until": o.due_until} for o in due.due],
        "goals_this_week": {"done": goals.done, "total": goals.total},
    }
