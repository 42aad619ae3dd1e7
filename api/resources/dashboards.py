"""The care team's views: caseload, patient dashboard, program report; the patient's summary."""
from flask.views import MethodView
from flask_jwt_extended import current_user, jwt_required
from flask_smorest import Blueprint

from models import utcnow
from schemas.dashboard import (
    CaseloadPageSchema, CaseloadQuerySchema, DashboardQuerySchema, DashboardSchema,
    ProgramReportSchema, SummarySchema,
)
from services.dashboards import caseload, own_summary, patient_dashboard, program_report

from ..auth import bearer
from ..requests import current_patient, page_of

blp = Blueprint("dashboards", __name__, url_prefix="/api/v1", description="Care-team views")


@blp.route("/caseload")
class Caseload(MethodView):
    @jwt_required()
    @blp.doc(security=bearer)
    @blp.arguments(CaseloadQuerySchema, location="query")
    @blp.response(200, CaseloadPageSchema)
    def get(self, query):
        """Rank the caller's patients by risk (or name, last check-in, streak)."""
        rows, total = caseload(current_user, utcnow(), level_of_care=query.get("level_of_care"),
                               program_id=query.get("program_id"), risk=query.get("risk"),
                               sort=query["sort"], page=query["page"], page_size=query["page_size"])
        return page_of(rows, total, query)


@blp.route("/patients/<int:patient_id>/dashboard")
class PatientDashboard(MethodView):
    @jwt_required()
    @blp.doc(security=bearer)
    @blp.arguments(DashboardQuerySchema, location="query")
    @blp.response(200, DashboardSchema)
    def get(self, query, patient_id):
        """Return one patient's series, trends, goals, attendance, scores and risk, for charts."""
        return patient_dashboard(current_user, patient_id, utcnow(), query["days"])


@blp.route("/me/summary")
class MySummary(MethodView):
    @jwt_required()
    @blp.doc(security=bearer)
    @blp.response(200, SummarySchema)
    def get(self):
        """Return the caller's home screen: today, streaks, what is due."""
        return own_summary(current_patient(), utcnow())


@blp.route("/programs/<int:program_id>/report")
class ProgramReport(MethodView):
    @jwt_required()
    @blp.doc(security=bearer)
    @blp.response(200, ProgramReportSchema)
    def get(self, program_id):
        """Return a program's enrolment, retention, attendance, PDA and score change."""
        return program_report(current_user, program_id, utcnow())
