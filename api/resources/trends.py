"""Trends: the figures behind a patient's progress."""
from flask.views import MethodView
from flask_smorest import Blueprint

from models import utcnow
from schemas.trends import TrendsQuerySchema, TrendsSchema
from services.dashboards import trends_for

from ..auth import current_user
from ..authenticated import authenticated
from ..requests import current_patient

blp = Blueprint("trends", __name__, url_prefix="/api/v1", description="Trends")


@blp.route("/me/trends")
class MyTrends(MethodView):
    @authenticated
    @blp.doc(operationId="get_my_trends")
    @blp.arguments(TrendsQuerySchema, location="query")
    @blp.response(200, TrendsSchema)
    def get(self, query):
        """Return the caller's trends: means, slopes, streaks, PDA, adherence, what helps."""
        patient = current_patient()
        return trends_for(patient, patient.id, utcnow(), query["window"])


@blp.route("/patients/<id:patient_id>/trends")
class PatientTrends(MethodView):
    @authenticated
    @blp.doc(operationId="get_patient_trends")
    @blp.arguments(TrendsQuerySchema, location="query")
    @blp.response(200, TrendsSchema)
    def get(self, query, patient_id):
        """Return a patient's trends (care team and admins)."""
        return trends_for(current_user, patient_id, utcnow(), query["window"])
