"""Questionnaires: the instruments, schedules the care team sets, answers and scores."""
from flask.views import MethodView
from flask_smorest import Blueprint

from models import utcnow
from schemas.assessment import (
    AssessmentAssignmentSchema,
    AssessmentHistoryQuerySchema,
    AssessmentResultSchema,
    AssessmentSubmissionSchema,
    DueAssessmentsSchema,
    InstrumentSchema,
    SubmittedAssessmentSchema,
)
from schemas.common import input_of, paged
from services.assessment_history import list_responses
from services.assessment_schedule import assign_assessment, end_assignment, list_assignments
from services.assessments import due_assessments, list_instruments, list_own_responses, submit_assessment

from ..auth import commit, current_user
from ..authenticated import authenticated
from ..requests import page_of

blp = Blueprint("assessments", __name__, url_prefix="/api/v1", description="Questionnaires")
AssessmentAssignmentInputSchema = input_of(AssessmentAssignmentSchema)
AssessmentPageSchema = paged(AssessmentResultSchema, "AssessmentPage")


@blp.route("/instruments")
class Instruments(MethodView):
    @authenticated
    @blp.doc(operationId="list_instruments")
    @blp.response(200, InstrumentSchema(many=True))
    def get(self):
        """List the questionnaires with their items, answer options and bands, exactly as scored."""
        return list_instruments()


@blp.route("/patients/<id:patient_id>/assessment-assignments")
class PatientAssignments(MethodView):
    @authenticated
    @blp.doc(operationId="list_assessment_assignments")
    @blp.response(200, AssessmentAssignmentSchema(many=True))
    def get(self, patient_id):
        """List a patient's questionnaire schedules, active first (care team and admins)."""
        return list_assignments(current_user, patient_id)

    @authenticated
    @blp.doc(operationId="create_assessment_assignment")
    @blp.arguments(AssessmentAssignmentInputSchema)
    @blp.response(201, AssessmentAssignmentSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, order, patient_id):
        """Put a questionnaire on a patient's schedule; one active assignment per instrument."""
        assignment = assign_assessment(current_user, patient_id, order, utcnow())
        commit()
        return assignment


@blp.route("/patients/<id:patient_id>/assessment-assignments/<id:assignment_id>/end")
class PatientAssignmentEnd(MethodView):
    @authenticated
    @blp.doc(operationId="end_assessment_assignment")
    @blp.response(200, AssessmentAssignmentSchema)
    def post(self, patient_id, assignment_id):
        """Stop a schedule (its responses stay); ending it again changes nothing."""
        assignment = end_assignment(current_user, patient_id, assignment_id, utcnow())
        commit()
        return assignment


@blp.route("/patients/<id:patient_id>/assessments")
class PatientAssessments(MethodView):
    @authenticated
    @blp.doc(operationId="list_patient_assessments")
    @blp.arguments(AssessmentHistoryQuerySchema, location="query")
    @blp.response(200, AssessmentPageSchema)
    def get(self, query, patient_id):
        """List a patient's scored questionnaires, newest first (care team, admins, the patient)."""
        responses, total = list_responses(current_user, patient_id, query.get("instrument"),
                                          query["page"], query["page_size"])
        return page_of(responses, total, query)


@blp.route("/me/assessments/due")
class MyDueAssessments(MethodView):
    @authenticated
    @blp.doc(operationId="list_my_due_assessments")
    @blp.response(200, DueAssessmentsSchema)
    def get(self):
        """Return the questionnaires open today and not yet answered, and what comes next."""
        return due_assessments(current_user, utcnow())


@blp.route("/me/assessments")
class MyAssessments(MethodView):
    @authenticated
    @blp.doc(operationId="list_my_assessments")
    @blp.arguments(AssessmentHistoryQuerySchema, location="query")
    @blp.response(200, AssessmentPageSchema)
    def get(self, query):
        """List the caller's scored questionnaires, newest first."""
        responses, total = list_own_responses(current_user, query.get("instrument"),
                                              query["page"], query["page_size"])
        return page_of(responses, total, query)

    @authenticated
    @blp.doc(operationId="submit_my_assessment")
    @blp.arguments(AssessmentSubmissionSchema)
    @blp.response(201, SubmittedAssessmentSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, submission):
        """Answer the questionnaire open today; returns the score and, on a crisis signal, where to get help."""
        submitted = submit_assessment(current_user, submission["assignment_id"], submission["answers"], utcnow())
        commit()
        return submitted.as_dict()
