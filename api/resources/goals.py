"""A patient's weekly goals, and the care team's view of them."""
from flask.views import MethodView
from flask_smorest import Blueprint

from models import utcnow
from schemas.goal import (
    GoalCreateSchema,
    GoalHistoryQuerySchema,
    GoalHistorySchema,
    GoalSchema,
    GoalUpdateSchema,
    GoalWeekQuerySchema,
    GoalWeekSchema,
)
from services.goals import add_goal, delete_goal, goal_history, goal_week, update_goal

from ..auth import commit, current_user
from ..authenticated import authenticated
from ..requests import current_patient

blp = Blueprint("goals", __name__, url_prefix="/api/v1", description="Weekly goals")


@blp.route("/me/goals")
class MyGoals(MethodView):
    @authenticated
    @blp.doc(operationId="get_my_goal_week")
    @blp.arguments(GoalWeekQuerySchema, location="query")
    @blp.response(200, GoalWeekSchema)
    def get(self, query):
        """Return one week of the caller's goals (default the current week) with its completion."""
        return goal_week(current_patient(), query.get("week"), utcnow())

    @authenticated
    @blp.doc(operationId="create_my_goal")
    @blp.arguments(GoalCreateSchema)
    @blp.response(201, GoalSchema, description="Added to the current week")
    @blp.alt_response(200, schema=GoalSchema, description="The week already has this goal (a retry)")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, goal):
        """Add a goal to the caller's current week (at most 5 a week)."""
        write = add_goal(current_patient(), goal["text"], utcnow())
        commit()
        return write.goal, 201 if write.created else 200


# Ids past the 32-bit INTEGER columns would fail in the database; the routes
# answer them 404 like any other id that does not exist.
@blp.route("/me/goals/<id:goal_id>")
class MyGoal(MethodView):
    @authenticated
    @blp.doc(operationId="update_my_goal")
    @blp.arguments(GoalUpdateSchema)
    @blp.response(200, GoalSchema)
    @blp.alt_response(409, response="CONFLICT")
    def patch(self, changes, goal_id):
        """Mark a goal done or not done (its week, and 2 days after), or reword it (its week)."""
        goal = update_goal(current_patient(), goal_id, changes, utcnow())
        commit()
        return goal

    @authenticated
    @blp.doc(operationId="delete_my_goal")
    @blp.response(204)
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, goal_id):
        """Delete a goal of the caller's current week."""
        delete_goal(current_patient(), goal_id, utcnow())
        commit()


@blp.route("/patients/<id:patient_id>/goals")
class PatientGoals(MethodView):
    @authenticated
    @blp.doc(operationId="list_patient_goal_weeks")
    @blp.arguments(GoalHistoryQuerySchema, location="query")
    @blp.response(200, GoalHistorySchema)
    def get(self, query, patient_id):
        """Return a patient's last weeks of goals with each week's completion, oldest first."""
        return goal_history(current_user, patient_id, query["weeks"], utcnow())
