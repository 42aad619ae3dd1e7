"""Questionnaires: the instruments as data, schedules, answers and scores."""
from marshmallow import Schema, fields, validate

from .common import PageQuerySchema
from .fields import Day, RecordId, StrictInteger

# services.instruments.INSTRUMENTS holds the same codes (a test keeps them equal);
# schemas import no services.
INSTRUMENT_CODES = ("phq9", "gad7", "bam")
INSTRUMENT = validate.OneOf(INSTRUMENT_CODES)


# --- the instruments as data ---------------------------------------------------

class InstrumentAnswerOptionSchema(Schema):
    value = fields.Integer(required=True, metadata={"description": "What the client sends."})
    label = fields.String(required=True)
    points = fields.Integer(required=True, metadata={"description": "What the answer scores."})
    up_to = fields.Integer(metadata={
        "description": "Present when the option is a range: any whole number value..up_to is accepted.",
    })


class InstrumentAnswerChoiceSchema(Schema):
    code = fields.String(required=True)
    label = fields.String(required=True)


class InstrumentItemSchema(Schema):
    id = fields.String(required=True, metadata={"description": 'The key of its answer, e.g. "1".'})
    text = fields.String(required=True)
    required = fields.Boolean(required=True)
    higher_is_better = fields.Boolean(required=True)
    options = fields.List(fields.Nested(InstrumentAnswerOptionSchema),
                          metadata={"description": "Scored items: answer with one option's value."})
    choices = fields.List(fields.Nested(InstrumentAnswerChoiceSchema),
                          metadata={"description": "Multiple-choice items: answer with a list of codes."})
    multiple = fields.Boolean()
    note = fields.String()


class InstrumentBandSchema(Schema):
    code = fields.String(required=True)
    label = fields.String(required=True)
    low = fields.Integer(required=True)
    high = fields.Integer(required=True)


class InstrumentSubscaleSchema(Schema):
    code = fields.String(required=True)
    label = fields.String(required=True)
    items = fields.List(fields.String(), required=True)
    range = fields.List(fields.Integer(), required=True)
    higher_is_better = fields.Boolean(required=True)
    concern = fields.String(required=True, metadata={"description": 'The clinical cut-off, e.g. ">= 12".'})


class InstrumentSchema(Schema):
    """A questionnaire exactly as it is scored."""

    code = fields.String(required=True, validate=INSTRUMENT)
    name = fields.String(required=True)
    version = fields.String(required=True)
    recall_period = fields.String(required=True)
    instructions = fields.String(required=True)
    items = fields.List(fields.Nested(InstrumentItemSchema), required=True)
    total_range = fields.List(fields.Integer(), allow_none=True, required=True)
    bands = fields.List(fields.Nested(InstrumentBandSchema), required=True)
    subscales = fields.List(fields.Nested(InstrumentSubscaleSchema), required=True)
    reliable_change = fields.Integer(allow_none=True, required=True, metadata={
        "description": "Smallest change in the total beyond measurement error.",
    })
    source = fields.String(required=True)


# --- schedules -------------------------------------------------------------------

class AssessmentAssignmentSchema(Schema):
    """An instrument on a patient's schedule."""

    id = fields.Integer(dump_only=True)
    patient_id = fields.Integer(dump_only=True)
    instrument = fields.String(required=True, validate=INSTRUMENT)
    cadence_days = StrictInteger(required=True, validate=validate.Range(1, 90), metadata={
        "description": "Days between occurrences: occurrence k is on starts_on + k * cadence_days.",
    })
    window_days = StrictInteger(required=True, validate=validate.Range(1, 90), metadata={
        "description": "Local days each occurrence stays answerable, 1 up to cadence_days.",
    })
    starts_on = Day(metadata={
        "description": "The patient's local day of the first occurrence; defaults to the patient's today.",
    })
    assigned_by_id = fields.Integer(dump_only=True)
    assigned_at = fields.DateTime(dump_only=True)
    ended_at = fields.DateTime(dump_only=True, allow_none=True)
    ended_by_id = fields.Integer(dump_only=True, allow_none=True)
    active = fields.Method("_active", dump_only=True, metadata={"type": "boolean"})

    def _active(self, assignment) -> bool:
        return assignment.ended_at is None


class AssessmentOccurrenceSchema(Schema):
    assignment_id = fields.Integer(required=True)
    instrument = fields.String(required=True)
    occurrence_on = fields.Date(required=True, metadata={"description": "The local day it opens."})
    due_until = fields.Date(required=True, metadata={"description": "The last local day it can be answered."})


class DueAssessmentsSchema(Schema):
    today = fields.Date(required=True, metadata={"description": "The patient's local today."})
    due = fields.List(fields.Nested(AssessmentOccurrenceSchema), required=True, metadata={
        "description": "Open today and not yet answered.",
    })
    upcoming = fields.List(fields.Nested(AssessmentOccurrenceSchema), required=True, metadata={
        "description": "The next occurrence of each active assignment, after today.",
    })


# --- answers and scores ------------------------------------------------------------

# One item's answer: a scored option's value, the codes of a multiple-choice
# item, or null for an optional item left out. Typed for generated clients.
ANSWER = {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "string"}}, {"type": "null"}]}

class AssessmentSubmissionSchema(Schema):
    assignment_id = RecordId(required=True)
    answers = fields.Dict(
        keys=fields.String(), values=fields.Raw(allow_none=True, metadata=ANSWER), required=True,
        validate=validate.Length(max=50),
        metadata={"description": 'Item id -> answer, e.g. {"1": 0, "2": 3}; see GET /instruments.'},
    )


class AssessmentBandSchema(Schema):
    code = fields.String(required=True)
    label = fields.String(required=True)


class AssessmentSubscaleScoreSchema(Schema):
    label = fields.String(required=True)
    score = fields.Integer(required=True)
    range = fields.List(fields.Integer(), required=True)
    concern = fields.Boolean(required=True, metadata={"description": "Past the clinical cut-off."})


class AssessmentSubscaleChangeSchema(Schema):
    from_previous = fields.Integer(allow_none=True)
    from_first = fields.Integer(allow_none=True)


class AssessmentChangeSchema(Schema):
    """Current minus earlier: negative is fewer points. null where there is nothing to compare."""

    from_previous = fields.Integer(allow_none=True)
    from_first = fields.Integer(allow_none=True)
    reliable_change_previous = fields.String(allow_none=True, validate=validate.OneOf(
        ["improved", "worsened", "no reliable change"]))
    reliable_change_first = fields.String(allow_none=True, validate=validate.OneOf(
        ["improved", "worsened", "no reliable change"]))
    threshold = fields.Integer(allow_none=True, metadata={"description": "The reliable-change threshold."})
    subscales = fields.Dict(keys=fields.String(), values=fields.Nested(AssessmentSubscaleChangeSchema))


class AssessmentResultSchema(Schema):
    """A scored response as stored, with change from the previous and the first of its instrument."""

    id = fields.Integer(attribute="response_id", required=True)
    patient_id = fields.Integer(required=True)
    assignment_id = fields.Integer(allow_none=True)
    instrument = fields.String(required=True)
    occurrence_on = fields.Date(allow_none=True)
    local_day = fields.Date(required=True, metadata={"description": "The patient's local day of answering."})
    submitted_at = fields.DateTime(required=True)
    total = fields.Integer(allow_none=True, metadata={"description": "null for the BAM (no total)."})
    band = fields.Nested(AssessmentBandSchema, allow_none=True)
    subscales = fields.Dict(keys=fields.String(), values=fields.Nested(AssessmentSubscaleScoreSchema))
    item9 = fields.Integer(allow_none=True, metadata={"description": "PHQ-9 item 9, reported on its own."})
    crisis = fields.Boolean(required=True)
    answers = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True, metadata=ANSWER))
    change = fields.Nested(AssessmentChangeSchema, required=True)


class CrisisLifelineSchema(Schema):
    name = fields.String(required=True)
    call = fields.String(required=True)
    text = fields.String(required=True)
    chat_url = fields.String(required=True)


class CrisisProgramContactSchema(Schema):
    name = fields.String(required=True)
    phone = fields.String(allow_none=True, required=True,
                          metadata={"description": "The program's own crisis number; null until configured."})


class CrisisResourcesSchema(Schema):
    message = fields.String(required=True)
    lifeline = fields.Nested(CrisisLifelineSchema, required=True)
    emergency_number = fields.String(required=True)
    program = fields.Nested(CrisisProgramContactSchema, required=True)


class SubmittedAssessmentSchema(AssessmentResultSchema):
    crisis_resources = fields.Nested(CrisisResourcesSchema, metadata={
        "description": "Present exactly when the response is a crisis signal (PHQ-9 item 9 above 0).",
    })


class AssessmentHistoryQuerySchema(PageQuerySchema):
    instrument = fields.String(validate=INSTRUMENT)
