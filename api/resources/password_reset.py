"""A forgotten password: ask for a link by e-mail, open its page, set a new password.

The link opens a page the app serves (api/templates/password_reset.html and
api/static/password-reset.js). Its token follows a "#", so the browser never
sends it in a request line, a log or a Referer: the page's script reads it
and posts it, with the new password, to /auth/password-reset/confirm.
"""
from flask import Response, after_this_request, render_template
from flask.views import MethodView
from flask_smorest import Blueprint

from models import utcnow
from schemas.password_reset import PasswordResetAskedSchema, PasswordResetRequestSchema, PasswordResetSchema
from services.outbox import hold_wake, wake
from services.password_reset import request_password_reset, reset_password

from ..audit import commit_with_audit, name_actor
from ..auth import commit
from ..security import password_reset_confirm_limits, password_reset_limits, throttled

blp = Blueprint("password_reset", __name__, url_prefix="/api/v1",
                description="A forgotten password: a single-use link by e-mail")

# The page loads its script and style from here and talks to this API only.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
_PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "X-Robots-Tag": "noindex"}
# The one answer to every well-formed ask: whether an account uses the address stays unsaid.
ASKED = "If an account uses this address, a link to choose a new password is on its way."
_HTML_PAGE = {"type": "string", "description": "The page a reset link opens."}

@blp.route("/auth/password-reset")
class PasswordResetRequest(MethodView):
    @blp.arguments(PasswordResetRequestSchema)
    @blp.response(202, PasswordResetAskedSchema)
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    @throttled(password_reset_limits)
    @blp.doc(operationId="request_password_reset", security=[])
    def post(self, asked):
        """Ask for a password-reset link by e-mail.

        Always 202, whether or not an account uses the address, after the
        same work: each account that does gets its own link, valid for 30
        minutes and once. Throttled per address and per client (429).
        """
        request_password_reset(asked["email"], utcnow())
        # The sender starts once the answer is sent: sharing the process, it would lengthen
        # the answer for an address with an account (by 2-4 ms, measured).
        _wake_when_answered(hold_wake())
        # One durable commit either way: the audit event rides with the (maybe empty) ledger rows.
        commit_with_audit(202)
        return {"detail": ASKED}


@blp.route("/auth/password-reset/confirm")
class PasswordResetConfirm(MethodView):
    @blp.arguments(PasswordResetSchema)
    @blp.response(204)
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    @throttled(password_reset_confirm_limits)
    @blp.doc(operationId="confirm_password_reset", security=[])
    def post(self, reset):
        """Set a new password with the token of a reset link: the link dies, and every session with it.

        422 names the field: `token` for a link that expired, was used or is
        not ours; `new_password` for a password the rules refuse.
        """
        user = reset_password(reset["token"], reset["new_password"], utcnow())
        name_actor(user.id)
        commit()


def _wake_when_answered(app) -> None:
    """Wake the mail sender after the response has gone out (its iterable closed), if mail is owed."""
    if app is None:
        return

    @after_this_request
    def wake_on_close(response):
        response.call_on_close(lambda: wake(app))
        return response


@blp.route("/password-reset")
class PasswordResetPage(MethodView):
    @blp.response(200, _HTML_PAGE, content_type="text/html")
    @blp.doc(operationId="show_password_reset_page", security=[])
    def get(self):
        """Show the page a reset link opens: choose a new password, or ask for a new link."""
        return Response(render_template("password_reset.html"), mimetype="text/html", headers=_PAGE_HEADERS)
