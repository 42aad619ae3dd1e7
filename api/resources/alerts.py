"""The care team's alert inbox: list, acknowledge, resolve."""
from flask.views import MethodView
from flask_smorest import Blueprint

from models import utcnow
from schemas import examples
from schemas.alert import AlertNoteSchema, AlertQuerySchema, AlertSchema
from schemas.common import paged
from services.alert_inbox import acknowledge_alert, list_alerts, resolve_alert

from ..auth import commit, current_user
from ..authenticated import authenticated
from ..requests import page_of

blp = Blueprint("alerts", __name__, url_prefix="/api/v1", description="Alerts for the care team")
AlertPageSchema = paged(AlertSchema, "AlertPage")


@blp.route("/alerts")
class Alerts(MethodView):
    @authenticated
    @blp.doc(operationId="list_alerts")
    @blp.arguments(AlertQuerySchema, location="query")
    @blp.response(200, AlertPageSchema)
    def get(self, query):
        """List the alerts of the caller's patients (care team; admins: the organization), newest first."""
        alerts, total = list_alerts(current_user, status=query.get("status"), severity=query.get("severity"),
                                    patient_id=query.get("patient_id"), page=query["page"],
                                    page_size=query["page_size"])
        return page_of(alerts, total, query)


@blp.route("/alerts/<id:alert_id>/acknowledge")
class AlertAcknowledge(MethodView):
    @authenticated
    @blp.doc(operationId="acknowledge_alert")
    @blp.arguments(AlertNoteSchema, required=False, example=examples.ALERT_NOTE)
    @blp.response(200, AlertSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body, alert_id):
        """Acknowledge an open alert: the caller has seen it and is on it."""
        alert = acknowledge_alert(current_user, alert_id, body.get("note"), utcnow())
        commit()
        return alert


@blp.route("/alerts/<id:alert_id>/resolve")
class AlertResolve(MethodView):
    @authenticated
    @blp.doc(operationId="resolve_alert")
    @blp.arguments(AlertNoteSchema, required=False, example=examples.ALERT_NOTE)
    @blp.response(200, AlertSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body, alert_id):
        """Resolve an open or acknowledged alert; the rule's next trigger opens a new one."""
        alert = resolve_alert(current_user, alert_id, body.get("note"), utcnow())
        commit()
        return alert
