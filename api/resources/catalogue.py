"""The organization's vocabularies: coping skills, substances, triggers, programs."""
from flask.views import MethodView
from flask_smorest import Blueprint

from models import SUBSTANCES, TRIGGERS
from schemas.catalogue import CopingSkillSchema, ProgramSchema, VocabularySchema
from schemas.common import input_of
from services.accounts import add_coping_skill, create_program, list_coping_skills, list_programs

from ..auth import commit, current_user
from ..authenticated import authenticated

blp = Blueprint("catalogue", __name__, url_prefix="/api/v1", description="Vocabularies and programs")
CopingSkillInputSchema = input_of(CopingSkillSchema)
ProgramInputSchema = input_of(ProgramSchema)


@blp.route("/catalogue")
class Catalogue(MethodView):
    @authenticated
    @blp.doc(operationId="get_catalogue")
    @blp.response(200, VocabularySchema)
    def get(self):
        """Return the codes a check-in may use in this organization."""
        return {"substances": list(SUBSTANCES), "triggers": list(TRIGGERS),
                "coping_skills": list_coping_skills(current_user.organization_id)}


@blp.route("/coping-skills")
class CopingSkills(MethodView):
    @authenticated
    @blp.doc(operationId="create_coping_skill")
    @blp.arguments(CopingSkillInputSchema)
    @blp.response(201, CopingSkillSchema)
    def post(self, skill):
        """Add a coping skill to the organization's catalogue (admin)."""
        created = add_coping_skill(current_user, skill["code"], skill["label"])
        commit()
        return created


@blp.route("/programs")
class Programs(MethodView):
    @authenticated
    @blp.doc(operationId="list_programs")
    @blp.response(200, ProgramSchema(many=True))
    def get(self):
        """List the organization's programs (staff)."""
        return list_programs(current_user)

    @authenticated
    @blp.doc(operationId="create_program")
    @blp.arguments(ProgramInputSchema)
    @blp.response(201, ProgramSchema)
    def post(self, program):
        """Add a program to the organization (admin)."""
        created = create_program(current_user, program["name"])
        commit()
        return created
