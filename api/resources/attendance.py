"""Treatment sessions recorded by the care team, and attendance against the plan."""
from flask.views import MethodView
from flask_smorest import Blueprint

from models import utcnow
from schemas.attendance import (
    AttendanceEntrySchema,
    AttendanceRangeQuerySchema,
    AttendanceRecordSchema,
    AttendanceSummaryQuerySchema,
    AttendanceSummarySchema,
)
from schemas.common import paged
from services.attendance import attendance_summary, list_attendance, record_attendance

from ..auth import commit, current_user
from ..authenticated import authenticated
from ..requests import current_patient, page_of

blp = Blueprint("attendance", __name__, url_prefix="/api/v1", description="Session attendance")
AttendancePageSchema = paged(AttendanceRecordSchema, "AttendancePage")


# Ids past the 32-bit INTEGER columns would fail in the database; the routes
# answer them 404 like any other id that does not exist.
@blp.route("/patients/<id:patient_id>/attendance")
class PatientAttendance(MethodView):
    @authenticated
    @blp.doc(operationId="list_patient_attendance")
    @blp.arguments(AttendanceRangeQuerySchema, location="query")
    @blp.response(200, AttendancePageSchema)
    def get(self, query, patient_id):
        """List a patient's sessions, newest first."""
        records, total = list_attendance(current_user, patient_id, query.get("date_from"),
                                         query.get("date_to"), query["page"], query["page_size"])
        return page_of(records, total, query)

    @authenticated
    @blp.doc(operationId="record_patient_attendance")
    @blp.arguments(AttendanceEntrySchema)
    @blp.response(201, AttendanceRecordSchema)
    def post(self, entry, patient_id):
        """Record one session for a patient (care team or admin)."""
        record = record_attendance(current_user, patient_id, entry, utcnow())
        commit()
        return record


@blp.route("/patients/<id:patient_id>/attendance/summary")
class PatientAttendanceSummary(MethodView):
    @authenticated
    @blp.doc(operationId="get_patient_attendance_summary")
    @blp.arguments(AttendanceSummaryQuerySchema, location="query")
    @blp.response(200, AttendanceSummarySchema)
    def get(self, query, patient_id):
        """Return a patient's weekly attendance rate and hours against the plan, oldest week first."""
        return attendance_summary(current_user, patient_id, query["weeks"], utcnow())


@blp.route("/me/attendance")
class MyAttendance(MethodView):
    @authenticated
    @blp.doc(operationId="get_my_attendance_summary")
    @blp.arguments(AttendanceSummaryQuerySchema, location="query")
    @blp.response(200, AttendanceSummarySchema)
    def get(self, query):
        """Return the caller's weekly attendance and hours against their plan."""
        return attendance_summary(current_user, current_patient().id, query["weeks"], utcnow())
