"""Enrolment, patient records, care teams and level of care (staff)."""
from flask.views import MethodView
from flask_jwt_extended import current_user, jwt_required
from flask_smorest import Blueprint

from models import Role, utcnow
from schemas.common import PageQuerySchema, input_of, paged
from schemas.patient import (
    CareTeamSchema, ClinicianSchema, EnrolmentResultSchema, EnrolmentSchema, InviteSchema,
    LevelOfCareChangeSchema, PatientSchema,
)
from services.access import patient_in_reach, require_role
from services.accounts import (
    change_level_of_care, enrol_patient, list_clinicians, list_patients, reissue_invite, set_care_team,
)

from ..auth import bearer, commit
from ..requests import page_of

blp = Blueprint("patients", __name__, url_prefix="/api/v1", description="Patients and care teams")
LevelOfCareChangeInputSchema = input_of(LevelOfCareChangeSchema)
PatientPageSchema = paged(PatientSchema, "PatientPage")


@blp.route("/patients")
class Patients(MethodView):
    @jwt_required()
    @blp.doc(operationId="list_patients", security=bearer)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, PatientPageSchema)
    def get(self, query):
        """List the patients in the caller's reach (care team, or whole organization for admins)."""
        profiles, total = list_patients(current_user, query["page"], query["page_size"])
        return page_of(profiles, total, query)

    @jwt_required()
    @blp.doc(operationId="enrol_patient", security=bearer)
    @blp.arguments(EnrolmentSchema)
    @blp.response(201, EnrolmentResultSchema)
    def post(self, enrolment):
        """Enrol a patient; returns a single-use invite code to register with."""
        profile, invite = enrol_patient(current_user, enrolment, utcnow())
        commit()
        return {"patient": profile, "invite": invite}


@blp.route("/patients/<int:patient_id>")
class PatientRecord(MethodView):
    @jwt_required()
    @blp.doc(operationId="get_patient", security=bearer)
    @blp.response(200, PatientSchema)
    def get(self, patient_id):
        """Return a patient's record: profile, care team and level-of-care history."""
        profile = patient_in_reach(current_user, patient_id)
        require_role(current_user, Role.clinician, Role.admin)
        return profile


@blp.route("/patients/<int:patient_id>/care-team")
class PatientCareTeam(MethodView):
    @jwt_required()
    @blp.doc(operationId="put_care_team", security=bearer)
    @blp.arguments(CareTeamSchema)
    @blp.response(200, PatientSchema)
    def put(self, care_team, patient_id):
        """Make exactly these clinicians the patient's care team (admin)."""
        profile = set_care_team(current_user, patient_id, care_team["clinician_ids"], utcnow())
        commit()
        return profile


@blp.route("/clinicians")
class Clinicians(MethodView):
    @jwt_required()
    @blp.doc(operationId="list_clinicians", security=bearer)
    @blp.response(200, ClinicianSchema(many=True))
    def get(self):
        """List the organization's active clinicians, whom a care team is made of (admin)."""
        return list_clinicians(current_user)


@blp.route("/patients/<int:patient_id>/level-of-care")
class PatientLevelOfCare(MethodView):
    @jwt_required()
    @blp.doc(operationId="change_level_of_care", security=bearer)
    @blp.arguments(LevelOfCareChangeInputSchema)
    @blp.response(201, LevelOfCareChangeSchema)
    def post(self, change, patient_id):
        """Step a patient up or down a level of care; kept as history."""
        recorded = change_level_of_care(current_user, patient_id, change["level_of_care"],
                                        change.get("effective_date"), change.get("note"), utcnow())
        commit()
        return recorded


@blp.route("/patients/<int:patient_id>/invite")
class PatientInvite(MethodView):
    @jwt_required()
    @blp.doc(operationId="reissue_invite", security=bearer)
    @blp.response(201, InviteSchema)
    def post(self, patient_id):
        """Issue a new invite code (the old ones stop working) before the patient registers."""
        invite = reissue_invite(current_user, patient_id, utcnow())
        commit()
        return invite
