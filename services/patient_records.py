"""What an export of one patient's records can hold, read from the database in one place."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from models import AssessmentResponse, AttendanceRecord, Checkin, CopingSkill, PatientProfile, WeeklyGoal, db


@dataclass(frozen=True)
class PatientRecords:
    """Everything about one patient that an export can hold."""

    profile: PatientProfile
    checkins: list[Checkin]
    responses: list[AssessmentResponse]
    goals: list[WeeklyGoal]
    attendance: list[AttendanceRecord]
    coping_skill_labels: dict[str, str] = field(default_factory=dict)


def load_records(profile: PatientProfile) -> PatientRecords:
    """Read every exportable record of one patient, oldest first."""
    patient_id = profile.user_id
    labels = dict(db.session.execute(
        select(CopingSkill.code, CopingSkill.label)
        .where(CopingSkill.organization_id == profile.user.organization_id)
    ).tuples().all())
    return PatientRecords(
        profile=profile,
        checkins=list(db.session.scalars(
            select(Checkin).where(Checkin.patient_id == patient_id).order_by(Checkin.day))),
        responses=list(db.session.scalars(
            select(AssessmentResponse).where(AssessmentResponse.patient_id == patient_id)
            .order_by(AssessmentResponse.submitted_at, AssessmentResponse.id))),
        goals=list(db.session.scalars(
            select(WeeklyGoal).where(WeeklyGoal.patient_id == patient_id)
            .order_by(WeeklyGoal.week_start, WeeklyGoal.id))),
        attendance=list(db.session.scalars(
            select(AttendanceRecord).where(AttendanceRecord.patient_id == patient_id)
            .order_by(AttendanceRecord.session_date, AttendanceRecord.id))),
        coping_skill_labels=labels,
    )
