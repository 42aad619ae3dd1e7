"""SQLAlchemy models, one module per aggregate."""
from .alert import Alert
from .assessment import AssessmentAssignment, AssessmentResponse
from .attendance import AttendanceRecord
from .auth import AuthSession, LoginDevice, LoginLockout
from .base import Base, begin_writing, db, savepoint
from .caseload import CaseloadRow
from .checkin import Checkin, CheckinRevision
from .clock import set_clock, utcnow
from .delivery import Delivery, NotificationPreference
from .enums import (
    DEFAULT_COPING_SKILLS,
    PLANNED_WEEKLY_HOURS,
    SUBSTANCES,
    TRIGGERS,
    AlertSeverity,
    AlertStatus,
    AttendanceStatus,
    ConsentScope,
    LevelOfCare,
    Role,
    SessionKind,
)
from .goal import WeeklyGoal
from .organization import CopingSkill, Organization, Program
from .privacy import AuditEvent, Consent, Disclosure
from .user import CareTeamMember, Invite, LevelOfCareChange, PatientProfile, User

__all__ = [
    "DEFAULT_COPING_SKILLS",
    "PLANNED_WEEKLY_HOURS",
    "SUBSTANCES",
    "TRIGGERS",
    "Alert",
    "AlertSeverity",
    "AlertStatus",
    "AssessmentAssignment",
    "AssessmentResponse",
    "AttendanceRecord",
    "AttendanceStatus",
    "AuditEvent",
    "AuthSession",
    "Base",
    "CareTeamMember",
    "CaseloadRow",
    "Checkin",
    "CheckinRevision",
    "Consent",
    "ConsentScope",
    "CopingSkill",
    "Delivery",
    "Disclosure",
    "Invite",
    "LevelOfCare",
    "LevelOfCareChange",
    "LoginDevice",
    "LoginLockout",
    "NotificationPreference",
    "Organization",
    "PatientProfile",
    "Program",
    "Role",
    "SessionKind",
    "User",
    "WeeklyGoal",
    "begin_writing",
    "db",
    "savepoint",
    "set_clock",
    "utcnow",
]
