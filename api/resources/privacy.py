"""Consent (42 CFR Part 2), the accounting of disclosures, and exports of a patient's records.

The issue sketches GET/PUT /me/consent; a PUT of the whole list would let a
stale phone silently re-grant a consent the patient had just revoked. So
each change is its own request: POST /me/consents grants one, POST
/me/consents/{id}/revoke revokes one, and GET /me/consent is the overview.
"""
from flask import Response, json
from flask.views import MethodView
from flask_smorest import Blueprint

from models import utcnow
from schemas.common import PageQuerySchema, paged
from schemas.privacy import (
    ConsentGrantSchema,
    ConsentOverviewSchema,
    ConsentSchema,
    DisclosedRecordsSchema,
    DisclosureRequestSchema,
    DisclosureSchema,
    ExportDocumentSchema,
    ExportQuerySchema,
    FhirBundleSchema,
)
from services.consent import (
    grant_consent,
    list_disclosures,
    my_consents,
    patient_consents,
    refuse_care_team_revocation,
    revoke_consent,
)
from services.export import CONTENT_TYPES, disclose_records, export_own_records

from ..auth import commit, current_user
from ..authenticated import authenticated
from ..requests import current_patient, page_of

blp = Blueprint("privacy", __name__, url_prefix="/api/v1",
                description="Consent, the accounting of disclosures, and exports (42 CFR Part 2)")
DisclosurePageSchema = paged(DisclosureSchema, "DisclosurePage")

# The export's other formats, beside the JSON document the schema describes.
_CSV_TEXT = {"type": "string", "description": "The check-ins as CSV: a header and one row per day."}
_EXPORT_FILES = {200: {"content": {
    CONTENT_TYPES["csv"]: {"schema": _CSV_TEXT},
    CONTENT_TYPES["fhir"]: {"schema": {
        "type": "object", "description": "format=fhir: a FHIR R4 Bundle of type collection."}},
}}}


@blp.route("/me/export/document")
class MyExportDocument(MethodView):
    @authenticated
    @blp.doc(operationId="export_my_records_document")
    @blp.response(200, ExportDocumentSchema)
    def get(self):
        """Export the caller's own records as one JSON document."""
        return export_own_records(current_patient(), "json", utcnow()).content


@blp.route("/me/export/checkins.csv")
class MyExportCsv(MethodView):
    @authenticated
    @blp.doc(operationId="export_my_checkins_csv")
    @blp.response(200, _CSV_TEXT, content_type=CONTENT_TYPES["csv"])
    def get(self):
        """Export the caller's check-ins as CSV: a header and one row per day."""
        export = export_own_records(current_patient(), "csv", utcnow())
        return Response(export.content, mimetype=export.content_type, headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"'})


@blp.route("/me/export/fhir")
class MyExportFhir(MethodView):
    @authenticated
    @blp.doc(operationId="export_my_records_fhir")
    @blp.response(200, FhirBundleSchema, content_type=CONTENT_TYPES["fhir"])
    def get(self):
        """Export the caller's own records as a FHIR R4 Bundle (the Part 2 notice in its meta)."""
        export = export_own_records(current_patient(), "fhir", utcnow())
        return Response(json.dumps(export.content), mimetype=export.content_type)


@blp.route("/me/consent")
class MyConsent(MethodView):
    @authenticated
    @blp.doc(operationId="get_my_consent")
    @blp.response(200, ConsentOverviewSchema)
    def get(self):
        """Return who may see the caller's records: the care team, and every consent outside the program."""
        return my_consents(current_patient(), utcnow())


@blp.route("/me/consents")
class MyConsents(MethodView):
    @authenticated
    @blp.doc(operationId="grant_my_consent")
    @blp.arguments(ConsentGrantSchema)
    @blp.response(201, ConsentSchema)
    def post(self, grant):
        """Consent to share the caller's records with an outside provider or a support person."""
        consent = grant_consent(current_patient(), grant, utcnow())
        commit()
        return consent


@blp.route("/me/consents/<id:consent_id>/revoke")
class MyConsentRevocation(MethodView):
    @authenticated
    @blp.doc(operationId="revoke_my_consent")
    @blp.response(200, ConsentSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, consent_id):
        """Revoke one of the caller's consents; it stays on record, dated. Twice is a conflict."""
        consent = revoke_consent(current_patient(), consent_id, utcnow())
        commit()
        return consent


@blp.route("/me/consents/care-team/revoke")
class MyCareTeamConsentRevocation(MethodView):
    @authenticated
    @blp.doc(operationId="revoke_my_care_team_consent")
    @blp.alt_response(409, response="CONFLICT")
    def post(self):
        """Explain that sharing with the care team is part of treatment: talk to the program to end it."""
        current_patient()
        refuse_care_team_revocation()


@blp.route("/patients/<id:patient_id>/consents")
class PatientConsents(MethodView):
    @authenticated
    @blp.doc(operationId="get_patient_consents")
    @blp.response(200, ConsentOverviewSchema)
    def get(self, patient_id):
        """Return a patient's consents (care team and admins of the organization)."""
        return patient_consents(current_user, patient_id, utcnow())


@blp.route("/patients/<id:patient_id>/disclosures")
class PatientDisclosures(MethodView):
    @authenticated
    @blp.doc(operationId="record_disclosure")
    @blp.arguments(DisclosureRequestSchema)
    @blp.response(201, DisclosedRecordsSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, order, patient_id):
        """Disclose a patient's records outside the program under their active consent; logged for the patient."""
        disclosed = disclose_records(current_user, patient_id, order["consent_id"], order["format"],
                                     utcnow())
        commit()
        return disclosed


@blp.route("/me/disclosures")
class MyDisclosures(MethodView):
    @authenticated
    @blp.doc(operationId="list_my_disclosures")
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, DisclosurePageSchema)
    def get(self, query):
        """List the caller's accounting of disclosures outside the program, newest first."""
        disclosures, total = list_disclosures(current_patient(), query["page"], query["page_size"])
        return page_of(disclosures, total, query)


@blp.route("/me/export")
class MyExport(MethodView):
    @authenticated
    @blp.doc(operationId="export_my_records", deprecated=True)
    @blp.arguments(ExportQuerySchema, location="query")
    @blp.response(200, ExportDocumentSchema, description="The caller's records in the format asked for")
    @blp.doc(responses=_EXPORT_FILES)
    def get(self, query):
        """Export the caller's own records: a JSON document, a CSV of check-ins, or a FHIR R4 Bundle.

        Kept for existing clients; one answer in three formats cannot be typed.
        New clients use export_my_records_document, export_my_checkins_csv and
        export_my_records_fhir, one format each.
        """
        export = export_own_records(current_patient(), query["format"], utcnow())
        if export.format == "json":
            return export.content
        if export.format == "csv":
            return Response(export.content, mimetype=export.content_type, headers={
                "Content-Disposition": f'attachment; filename="{export.filename}"'})
        return Response(json.dumps(export.content), mimetype=export.content_type)
