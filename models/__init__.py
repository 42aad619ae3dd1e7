"""SQLAlchemy models, one module per aggregate."""
from .alert import Alert
from .assessment import AssessmentAssignment, AssessmentResponse
from .attendance import AttendanceRecord
from .auth import AuthSession, LoginDevice, LoginLockout
from .base import Base, begin_writing, db, savepoint
from .clock import set_clock, utcnow
from .caseload import CaseloadRow
from .delivery import Delivery, NotificationPreference
from .checkin import Checkin, CheckinRevision
from .enums import (
    DEFAULT_COPING_SKILLS, PLANNED_WEEKLY_HOURS, SUBSTANCES, TRIGGERS, AlertSeverity, AlertStatus,
    AttendanceStatus, ConsentScope, LevelOfCare, Role, SessionKind,
)
from .goal import WeeklyGoal
from .organization import CopingSkill, Organization, Program
from .privacy import AuditEvent, Consent, Disclosure
from .user import CareTeamMember, Invite, LevelOfCareChange, PatientProfile, User

__all__ = [
    "Delivery", "NotificationPreference",
    "savepoint", "begin_writing", "Alert", "AlertSeverity", "AlertStatus", "AuditEvent", "Consent", "ConsentScope", "Disclosure",
    "AssessmentAssignment", "AssessmentResponse", "AttendanceRecord", "WeeklyGoal",
    "PLANNED_WEEKLY_HOURS", "AttendanceStatus", "SessionKind",
    "AuthSession", "LoginDevice", "LoginLockout", "Base", "CaseloadRow", "db", "set_clock", "utcnow", "Checkin", "CheckinRevision",
    "DEFAULT_COPING_SKILLS", "SUBSTANCES", "TRIGGERS", "LevelOfCare", "Role",
    "CopingSkill", "Organization", "Program", "CareTeamMember", "Invite",
    "LevelOfCareChange", "PatientProfile", "User",
]
