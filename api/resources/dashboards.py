"""The care team's views: caseload, patient dashboard, program report; the patient's summary."""
from json.encoder import encode_basestring_ascii as _quoted  # json.dumps' own, for a str

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from models import utcnow
from schemas.dashboard import (
    CaseloadPageSchema,
    CaseloadQuerySchema,
    DashboardQuerySchema,
    DashboardSchema,
    ProgramReportSchema,
    SummarySchema,
)
from services.caseload import CaseloadEntry, caseload
from services.dashboards import patient_dashboard
from services.home import home_screen
from services.program_report import program_report

from ..audit import commit_with_audit
from ..auth import caller, current_user
from ..authenticated import authenticated
from ..requests import current_patient

blp = Blueprint("dashboards", __name__, url_prefix="/api/v1", description="Care-team views")


@blp.route("/caseload")
class Caseload(MethodView):
    @authenticated
    @blp.doc(operationId="get_caseload")
    @blp.arguments(CaseloadQuerySchema, location="query")
    @blp.response(200, CaseloadPageSchema)
    def get(self, query):
        """Rank the caller's patients by risk (or name, last check-in, streak)."""
        # The caller, not the current_user proxy: the service reads four of its
        # attributes, and through the proxy each read looked the token's user up again.
        rows, total = caseload(caller(), utcnow(), level_of_care=query.get("level_of_care"),
                               program_id=query.get("program_id"), risk=query.get("risk"),
                               sort=query["sort"], page=query["page"], page_size=query["page_size"],
                               check_kept=current_app.config["CASELOAD_CHECK_KEPT_FIGURES"])
        commit_with_audit(200, listed=[row.patient["id"] for row in rows])  # and the figures recomputed
        return Response(caseload_page_json(rows, total, query), mimetype="application/json")


def caseload_page_json(rows: list[CaseloadEntry], total: int, paging: dict) -> str:
    """Write a caseload page as CaseloadPageSchema would, splicing in each row's figures as kept.

    Dumping 50 rows through marshmallow cost more than the whole request
    otherwise does; the figures were written as that schema's JSON
    (services.caseload), and a test holds the two to the same output.
    """
    # One join of the whole page: a string per row would copy each row's figures once more.
    parts = ['{"items":[']
    for row in rows:
        parts += (_live_json(row), row.figures[1:], ",")
    if rows:
        parts.pop()
    parts.append(f'],"total":{total},"page":{paging["page"]},"page_size":{paging["page_size"]}}}')
    return "".join(parts)


def _live_json(row: CaseloadEntry) -> str:
    """Write the row's live part, up to where its figures go, as json.dumps did (separators, ASCII escapes).

    Without building a JSON encoder per row: json.dumps did, a tenth of the request.
    """
    program = "null" if row.program is None else (
        f'{{"id": {row.program["id"]}, "name": {_quoted(row.program["name"])}}}')
    return (f'{{"patient": {{"id": {row.patient["id"]}, "display_name": {_quoted(row.patient["display_name"])}}}, '
            f'"level_of_care": {_quoted(row.level_of_care)}, "program": {program},')


@blp.route("/patients/<id:patient_id>/dashboard")
class PatientDashboard(MethodView):
    @authenticated
    @blp.doc(operationId="get_patient_dashboard")
    @blp.arguments(DashboardQuerySchema, location="query")
    @blp.response(200, DashboardSchema)
    def get(self, query, patient_id):
        """Return one patient's series, trends, goals, attendance, scores and risk, for charts."""
        return patient_dashboard(current_user, patient_id, utcnow(), query["days"])


@blp.route("/me/summary")
class MySummary(MethodView):
    @authenticated
    @blp.doc(operationId="get_my_summary")
    @blp.response(200, SummarySchema)
    def get(self):
        """Return the caller's home screen: today, streaks, what is due."""
        return home_screen(current_patient(), utcnow())


@blp.route("/programs/<id:program_id>/report")
class ProgramReport(MethodView):
    @authenticated
    @blp.doc(operationId="get_program_report")
    @blp.response(200, ProgramReportSchema)
    def get(self, program_id):
        """Return a program's enrolment, retention, attendance, PDA and score change."""
        return program_report(current_user, program_id, utcnow())
