"""A patient's daily check-ins: write a day, sync an offline queue, read them back."""
from typing import cast

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError

from models import utcnow
from schemas import examples
from schemas.checkin import (
    CheckinContentSchema,
    CheckinRangeQuerySchema,
    CheckinSchema,
    CheckinWriteSchema,
    IfMatchSchema,
    SyncEntrySchema,
    SyncRequestSchema,
    SyncResponseSchema,
)
from schemas.common import paged
from services.access import patient_in_reach
from services.checkin_reads import get_checkin, list_checkins
from services.checkin_sync import sync_checkins
from services.checkins import record_checkin
from services.errors import NotFound

from ..audit import commit_with_audit
from ..auth import current_user
from ..authenticated import authenticated
from ..database import writes_after_checks
from ..errors import domain_problem, flatten_validation, problem_body
from ..requests import current_patient, current_patient_id, etag, page_of, parse_day, parse_if_match

blp = Blueprint("checkins", __name__, url_prefix="/api/v1", description="Daily check-ins")
CheckinPageSchema = paged(CheckinSchema, "CheckinPage")
ETAG_HEADER = {"ETag": {"description": "The check-in's version; send it back in If-Match to edit.",
                        "schema": {"type": "string"}}}
IF_MATCH, CHECKIN_CONTENT = IfMatchSchema(), CheckinContentSchema()


@blp.route("/me/checkins/<day:day>")
class MyCheckinDay(MethodView):
    @authenticated(who_only=True)
    @blp.doc(operationId="get_my_checkin")
    @blp.response(200, CheckinSchema, headers=ETAG_HEADER)
    def get(self, day):
        """Return the caller's check-in for one local day, with its ETag."""
        checkin = get_checkin(current_patient_id(), parse_day(day))
        if checkin is None:
            raise NotFound("No check-in for this day.")
        return checkin, 200, {"ETag": etag(checkin)}

    @authenticated
    @blp.doc(operationId="put_my_checkin")
    # Instances, not classes: webargs would build a schema from a class on every request.
    @blp.arguments(IF_MATCH, location="headers")
    @blp.arguments(CHECKIN_CONTENT, example=examples.CHECKIN_CONTENT)
    @blp.response(200, CheckinWriteSchema, headers=ETAG_HEADER, description="Rewritten, or unchanged")
    @blp.alt_response(201, schema=CheckinWriteSchema, headers=ETAG_HEADER, description="The day's first check-in",
                      example=examples.CHECKIN_WRITTEN)
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    @blp.alt_response(428, response="PRECONDITION_REQUIRED")
    @writes_after_checks
    def put(self, headers, content, day):
        """Write the caller's check-in for one local day (idempotent)."""
        write = record_checkin(current_patient(), parse_day(day), content,
                               parse_if_match(headers.get("if_match")), utcnow())
        status = 201 if write.created else 200
        commit_with_audit(status, write.checkin)
        return write, status, {"ETag": etag(write.checkin)}


@blp.route("/me/checkins")
class MyCheckins(MethodView):
    @authenticated(who_only=True)
    @blp.doc(operationId="list_my_checkins")
    @blp.arguments(CheckinRangeQuerySchema, location="query")
    @blp.response(200, CheckinPageSchema)
    def get(self, query):
        """List the caller's check-ins, newest day first."""
        checkins, total = list_checkins(current_patient_id(), query.get("date_from"),
                                        query.get("date_to"), query["page"], query["page_size"])
        return page_of(checkins, total, query)


@blp.route("/me/checkins/sync")
class MyCheckinSync(MethodView):
    @authenticated
    @blp.doc(operationId="sync_my_checkins")
    @blp.arguments(SyncRequestSchema, example=examples.SYNC_REQUEST)
    @blp.response(200, SyncResponseSchema)
    @writes_after_checks
    def post(self, body):
        """Write an offline queue of days; each entry gets its own result."""
        results = sync_queue(current_patient(), body["checkins"])
        commit_with_audit(200, *(result["checkin"] for result in results if result.get("checkin") is not None))
        return {"results": results}


@blp.route("/patients/<id:patient_id>/checkins")
class PatientCheckins(MethodView):
    @authenticated
    @blp.doc(operationId="list_patient_checkins")
    @blp.arguments(CheckinRangeQuerySchema, location="query")
    @blp.response(200, CheckinPageSchema)
    def get(self, query, patient_id):
        """List a patient's check-ins (care team and admins of the organization)."""
        patient = patient_in_reach(current_user, patient_id)
        checkins, total = list_checkins(patient.user_id, query.get("date_from"),
                                        query.get("date_to"), query["page"], query["page_size"])
        return page_of(checkins, total, query)


_SUCCESS_STATUS = {"created": 201, "updated": 200, "unchanged": 200}


def sync_queue(patient, raw_entries: list) -> list[dict]:
    """Validate each queued entry on its own, write the valid ones, and report all in order."""
    results: list[dict | None] = []
    valid, positions = [], []
    entry_schema = SyncEntrySchema()
    for raw in raw_entries:
        try:
            valid.append(entry_schema.load(raw))
        except ValidationError as error:
            date_sent = raw.get("date") if isinstance(raw.get("date"), str) else None
            problem = problem_body(422, "validation-error", "Invalid input",
                                   "This entry has invalid fields.", flatten_validation({"json": error.messages}))
            results.append({"date": date_sent, "outcome": "refused", "status": 422, "problem": problem})
        else:
            positions.append(len(results))
            results.append(None)
    for position, result in zip(positions, sync_checkins(patient, valid, utcnow()), strict=True):
        if result.error is not None:
            problem = domain_problem(result.error)
            results[position] = {"date": result.day.isoformat(), "outcome": "refused",
                                 "status": problem["status"], "problem": problem}
        else:
            results[position] = {"date": result.day.isoformat(), "outcome": result.outcome,
                                 "status": _SUCCESS_STATUS[result.outcome], "checkin": result.checkin,
                                 "crisis_resources": result.crisis_resources}
    return cast("list[dict]", results)  # every position is filled by now: refused above, written here
