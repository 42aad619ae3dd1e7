"""The care team's views: caseload rows, the patient dashboard, the program report."""
from marshmallow import Schema, fields, validate

from models import LevelOfCare

from .alert import AlertSchema
from .assessment import AssessmentBandSchema, AssessmentResultSchema, AssessmentSubscaleScoreSchema
from .catalogue import ProgramSchema
from .fields import QueryInteger, QueryRecordId
from .patient import PatientSchema
from .trends import DIRECTIONS, TrendsSchema

RISK_LEVELS = ["low", "medium", "high"]


class RiskReasonSchema(Schema):
    code = fields.String()
    level = fields.String(validate=validate.OneOf(RISK_LEVELS))
    text = fields.String()


class RiskSchema(Schema):
    level = fields.String(validate=validate.OneOf(RISK_LEVELS), metadata={
        "description": "Decision support from the check-ins, scores and attendance; never a decision."})
    reasons = fields.List(fields.Nested(RiskReasonSchema))


class PatientRefSchema(Schema):
    id = fields.Integer()
    display_name = fields.String()


class MetricBriefSchema(Schema):
    value = fields.Float(allow_none=True, metadata={"description": "7-day mean."})
    n = fields.Integer(metadata={"description": "Days behind the mean."})
    direction = fields.String(allow_none=True, validate=validate.OneOf(DIRECTIONS))
    slope = fields.Float(allow_none=True, metadata={"description": "14-day slope per day."})
    slope_n = fields.Integer(metadata={"description": "Days behind the slope."})


class AdherenceBriefSchema(Schema):
    percent = fields.Float(allow_none=True)
    days_reported = fields.Integer()
    days_in_window = fields.Integer()


class ScoreBriefSchema(Schema):
    total = fields.Integer(allow_none=True)
    band = fields.Nested(AssessmentBandSchema, allow_none=True)
    item9 = fields.Integer(allow_none=True)
    subscales = fields.Dict(keys=fields.String(), values=fields.Nested(AssessmentSubscaleScoreSchema))
    local_day = fields.Date()
    from_previous = fields.Integer(allow_none=True)
    reliable_change = fields.String(allow_none=True)


class LatestScoresSchema(Schema):
    phq9 = fields.Nested(ScoreBriefSchema, allow_none=True)
    gad7 = fields.Nested(ScoreBriefSchema, allow_none=True)
    bam = fields.Nested(ScoreBriefSchema, allow_none=True)


class AttendanceBriefSchema(Schema):
    attended = fields.Integer()
    missed = fields.Integer()
    rate = fields.Float(allow_none=True, metadata={"description": "Percent attended of attended + missed."})


class StepUpReasonSchema(Schema):
    code = fields.String()
    text = fields.String()


class StepUpSchema(Schema):
    consider_step_up = fields.Boolean(metadata={
        "description": "Decision support for the clinician (repeated use, urgent alerts, falling "
                       "attendance); never an automatic change of level of care."})
    reasons = fields.List(fields.Nested(StepUpReasonSchema))


class CaseloadRowSchema(Schema):
    patient = fields.Nested(PatientRefSchema)
    level_of_care = fields.String()
    program = fields.Nested(ProgramSchema, allow_none=True)
    today = fields.Date(metadata={"description": "The patient's local day."})
    last_checkin = fields.Date(allow_none=True)
    days_since_last_checkin = fields.Integer(allow_none=True)
    current_streak = fields.Integer(metadata={"description": "Abstinent check-in days running."})
    means_7 = fields.Dict(keys=fields.String(), values=fields.Nested(MetricBriefSchema))
    adherence_7 = fields.Nested(AdherenceBriefSchema)
    latest_scores = fields.Nested(LatestScoresSchema)
    attendance_14 = fields.Nested(AttendanceBriefSchema)
    open_alerts = fields.Integer(metadata={"description": "Open and acknowledged alerts."})
    urgent_alerts = fields.Integer(metadata={"description": "Of which urgent."})
    step_up = fields.Nested(StepUpSchema)
    risk = fields.Nested(RiskSchema)


class CaseloadQuerySchema(Schema):
    sort = fields.String(load_default="risk", validate=validate.OneOf(["risk", "name", "last_checkin", "streak"]))
    level_of_care = fields.Enum(LevelOfCare, by_value=True)
    program_id = QueryRecordId()
    risk = fields.String(validate=validate.OneOf(RISK_LEVELS))
    page = QueryInteger(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = QueryInteger(load_default=50, validate=validate.Range(min=1, max=200))


class CaseloadPageSchema(Schema):
    items = fields.List(fields.Nested(CaseloadRowSchema), required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    total = fields.Integer(required=True)


class SeriesDaySchema(Schema):
    date = fields.Date()
    checked_in = fields.Boolean()
    craving = fields.Integer(allow_none=True)
    mood = fields.Integer(allow_none=True)
    sleep_hours = fields.Float(allow_none=True)
    used_substance = fields.Boolean(allow_none=True)
    late = fields.Boolean(allow_none=True)


class GoalWeekBriefSchema(Schema):
    week_start = fields.Date()
    done = fields.Integer()
    total = fields.Integer()
    rate = fields.Float(allow_none=True, metadata={"description": "Percent done; none without goals."})


class AttendanceWeekBriefSchema(Schema):
    week_start = fields.Date()
    level_of_care = fields.String()
    attended = fields.Integer()
    missed = fields.Integer()
    excused = fields.Integer()
    hours_attended = fields.Float()
    planned_hours = fields.List(fields.Float(), metadata={"description": "[minimum, maximum] for the level of care."})
    plan_status = fields.String(allow_none=True)
    in_progress = fields.Boolean()


class DashboardQuerySchema(Schema):
    days = QueryInteger(load_default=90, validate=validate.Range(7, 365))


class DashboardSchema(Schema):
    patient = fields.Nested(PatientSchema)
    today = fields.Date()
    days = fields.Integer()
    series = fields.List(fields.Nested(SeriesDaySchema), metadata={
        "description": "One entry per local day, oldest first; days without a check-in have checked_in false."})
    trends = fields.Nested(TrendsSchema)
    goals = fields.List(fields.Nested(GoalWeekBriefSchema))
    attendance = fields.List(fields.Nested(AttendanceWeekBriefSchema))
    scores = fields.List(fields.Nested(AssessmentResultSchema), metadata={
        "description": "Every questionnaire response, oldest first, with its change."})
    risk = fields.Nested(RiskSchema)
    alerts = fields.List(fields.Nested(AlertSchema), metadata={
        "description": "The patient's alerts still to work (open and acknowledged)."})


class DueBriefSchema(Schema):
    instrument = fields.String()
    assignment_id = fields.Integer(allow_none=True)
    occurrence_on = fields.Date()
    due_until = fields.Date()


class PdaBriefSchema(Schema):
    days = fields.Integer()
    missing_as_use = fields.Float(allow_none=True)
    missing_excluded = fields.Float(allow_none=True)
    days_abstinent = fields.Integer()
    days_reported = fields.Integer()
    days_in_window = fields.Integer()
    days_late = fields.Integer()


class GoalCountSchema(Schema):
    done = fields.Integer()
    total = fields.Integer()


class SummarySchema(Schema):
    today = fields.Date()
    checked_in_today = fields.Boolean()
    current_streak = fields.Integer()
    longest_streak = fields.Integer()
    days_since_recovery_start = fields.Integer(allow_none=True)
    percent_days_abstinent_30 = fields.Nested(PdaBriefSchema)
    assessments_due = fields.List(fields.Nested(DueBriefSchema))
    goals_this_week = fields.Nested(GoalCountSchema)


class RetentionSchema(Schema):
    eligible = fields.Integer(metadata={"description": "Patients enrolled at least that long ago."})
    retained = fields.Integer(allow_none=True, metadata={"description": "Of whom checked in on or after that point."})
    percent = fields.Float(allow_none=True)


SUPPRESSED = " Null when it would describe too few patients (see suppressed)."


class ProgramAttendanceSchema(Schema):
    attended = fields.Integer(allow_none=True, metadata={"description": "Sessions attended." + SUPPRESSED})
    missed = fields.Integer(allow_none=True, metadata={"description": "Sessions missed." + SUPPRESSED})
    rate = fields.Float(allow_none=True, metadata={
        "description": "Percent attended of attended + missed." + SUPPRESSED})
    patients = fields.Integer(metadata={"description": "Patients with a session attended or missed."})


class ProgramPdaSchema(Schema):
    first_30_days = fields.Float(allow_none=True)
    latest_30_days = fields.Float(allow_none=True)
    patients = fields.Integer()


class ProgramScoreChangeSchema(Schema):
    mean_from_first = fields.Float(allow_none=True)
    patients = fields.Integer()


class ProgramReportSchema(Schema):
    program = fields.Nested(ProgramSchema)
    patients_enrolled = fields.Integer()
    active_patients = fields.Integer(allow_none=True, metadata={
        "description": "Checked in within the last 14 days." + SUPPRESSED})
    retention = fields.Dict(keys=fields.String(), values=fields.Nested(RetentionSchema), metadata={
        "description": "Per window; retained and percent are null when they would describe too few "
                       "patients (see suppressed)."})
    attendance_30 = fields.Nested(ProgramAttendanceSchema)
    pda = fields.Nested(ProgramPdaSchema, metadata={
        "description": "Mean PDA (missing as use) in the first 30 days vs the latest 30." + SUPPRESSED})
    score_change = fields.Dict(keys=fields.String(), values=fields.Nested(ProgramScoreChangeSchema), metadata={
        "description": "Mean change from the first score, per instrument." + SUPPRESSED})
    minimum_group = fields.Integer(metadata={
        "description": "The fewest patients a figure of this report describes (small-cell suppression)."})
    suppressed = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "Why each null figure is held back, by its path (e.g. retention.4_weeks.percent)."})
