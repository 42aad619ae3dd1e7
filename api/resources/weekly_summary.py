"""The patient's week: the figures the weekly e-mail tells, for the page its link opens."""
from flask.views import MethodView
from flask_smorest import Blueprint

from models import utcnow
from schemas.weekly_summary import WeeklySummaryQuerySchema, WeeklySummarySchema
from services.weekly_summary import my_weekly_summary

from ..authenticated import authenticated
from ..requests import current_patient

blp = Blueprint("weekly_summary", __name__, url_prefix="/api/v1", description="The weekly summary")


@blp.route("/me/weekly-summary")
class MyWeeklySummary(MethodView):
    @authenticated
    @blp.doc(operationId="get_my_weekly_summary")
    @blp.arguments(WeeklySummaryQuerySchema, location="query")
    @blp.response(200, WeeklySummarySchema)
    def get(self, query):
        """Return the caller's summary of one week (default: last week), the weekly e-mail's figures."""
        return my_weekly_summary(current_patient(), query.get("week"), utcnow())
