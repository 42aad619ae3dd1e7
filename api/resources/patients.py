"""Enrolment, patient records, care teams and level of care (staff)."""
from flask.views import MethodView
from flask_smorest import Blueprint

from models import Role, utcnow
from schemas.common import PageQuerySchema, input_of, paged
from schemas.patient import (
    CareTeamSchema,
    ClinicianSchema,
    EnrolmentResultSchema,
    EnrolmentSchema,
    InviteSchema,
    LevelOfCareChangeSchema,
    PatientSchema,
)
from services.access import patient_in_reach, require_role
from services.accounts import (
    change_level_of_care,
    enrol_patient,
    list_clinicians,
    list_patients,
    reissue_invite,
    set_care_team,
)

from ..auth import commit, current_user
from ..authenticated import authenticated
from ..requests import page_of

blp = Blueprint("patients", __name__, url_prefix="/api/v1", description="Patients and care teams")
LevelOfCareChangeInputSchema = input_of(LevelOfCareChangeSchema)
PatientPageSchema = paged(PatientSchema, "PatientPage")


@blp.route("/patients")
class Patients(MethodView):
    @authenticated
    @blp.doc(operationId="list_patients")
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, PatientPageSchema)
    def get(self, query):
        """List the patients in the caller's reach (care team, or whole organization for admins)."""
        profiles, total = list_patients(current_user, query["page"], query["page_size"])
        return page_of(profiles, total, query)

    @authenticated
    @blp.doc(operationId="enrol_patient")
    @blp.arguments(EnrolmentSchema)
    @blp.response(201, EnrolmentResultSchema)
    def post(self, enrolment):
        """Enrol a patient; returns a single-use invite code to register with."""
        profile, invite = enrol_patient(current_user, enrolment, utcnow())
        commit()
        return {"patient": profile, "invite": invite}


@blp.route("/patients/<id:patient_id>")
class PatientRecord(MethodView):
    @authenticated
    @blp.doc(operationId="get_patient")
    @blp.response(200, PatientSchema)
    def get(self, patient_id):
        """Return a patient's record: profile, care team and level-of-care history."""
        profile = patient_in_reach(current_user, patient_id)
        require_role(current_user, Role.clinician, Role.admin)
        return profile


@blp.route("/patients/<id:patient_id>/care-team")
class PatientCareTeam(MethodView):
    @authenticated
    @blp.doc(operationId="put_care_team")
    @blp.arguments(CareTeamSchema)
    @blp.response(200, PatientSchema)
    def put(self, care_team, patient_id):
        """Make exactly these clinicians the patient's care team (admin)."""
        profile = set_care_team(current_user, patient_id, care_team["clinician_ids"], utcnow())
        commit()
        return profile


@blp.route("/clinicians")
class Clinicians(MethodView):
    @authenticated
    @blp.doc(operationId="list_clinicians")
    @blp.response(200, ClinicianSchema(many=True))
    def get(self):
        """List the organization's active clinicians, whom a care team is made of (admin)."""
        return list_clinicians(current_user)


@blp.route("/patients/<id:patient_id>/level-of-care")
class PatientLevelOfCare(MethodView):
    @authenticated
    @blp.doc(operationId="change_level_of_care")
    @blp.arguments(LevelOfCareChangeInputSchema)
    @blp.response(201, LevelOfCareChangeSchema)
    def post(self, change, patient_id):
        """Step a patient up or down a level of care; kept as history."""
        recorded = change_level_of_care(current_user, patient_id, change["level_of_care"],
                                        change.get("effective_date"), change.get("note"), utcnow())
        commit()
        return recorded


@blp.route("/patients/<id:patient_id>/invite")
class PatientInvite(MethodView):
    @authenticated
    @blp.doc(operationId="reissue_invite")
    @blp.response(201, InviteSchema)
    def post(self, patient_id):
        """Issue a new invite code (the old ones stop working) before the patient registers."""
        invite = reissue_invite(current_user, patient_id, utcnow())
        commit()
        return invite
