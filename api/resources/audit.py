"""The audit log: who touched which patient's records, when, from where (admins)."""
from flask.views import MethodView
from flask_smorest import Blueprint

from schemas.audit import AuditEventSchema, AuditQuerySchema
from schemas.common import paged
from services.audit import list_audit_events

from ..auth import current_user
from ..authenticated import authenticated
from ..requests import page_of

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="The audit log")
AuditEventPageSchema = paged(AuditEventSchema, "AuditEventPage")


@blp.route("/audit-log")
class AuditLog(MethodView):
    @authenticated
    @blp.doc(operationId="list_audit_events")
    @blp.arguments(AuditQuerySchema, location="query")
    @blp.response(200, AuditEventPageSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    def get(self, query):
        """List the organization's audit events, newest first, filtered (admins)."""
        filters = {name: query.get(name) for name in (
            "actor_id", "patient_id", "action", "outcome", "occurred_from", "occurred_to")}
        events, total = list_audit_events(current_user, **filters, page=query["page"],
                                          page_size=query["page_size"])
        return page_of(events, total, query)
