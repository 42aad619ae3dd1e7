"""The API's resources, one flask-smorest Blueprint per module; create_app registers RESOURCES."""
from . import (
    alerts,
    assessments,
    attendance,
    audit,
    auth,
    catalogue,
    checkins,
    dashboards,
    goals,
    health,
    password_reset,
    patients,
    preferences,
    privacy,
    trends,
    weekly_summary,
)

# Every resource the API serves, in the order the contract lists their tags:
# a new module here serves nothing until it is named in this list.
RESOURCES = (
    alerts.blp, assessments.blp, attendance.blp, audit.blp, auth.blp, catalogue.blp, checkins.blp, dashboards.blp,
    goals.blp, health.blp, password_reset.blp, patients.blp, preferences.blp, privacy.blp, trends.blp,
    weekly_summary.blp,
)
