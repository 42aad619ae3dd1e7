"""Mail: the patient's preferences, unsubscribing from a link, and the delivery ledger for admins.

The unsubscribe link in every scheduled e-mail works without logging in: its
token is signed with the app's secret and names one user and one kind of
e-mail. GET only shows what the link would do (mail scanners and link
previews follow links); POST does it, from the page's button or from a mail
client's one-click unsubscribe (RFC 8058, List-Unsubscribe-Post).
"""
from html import escape

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from models import utcnow
from schemas.common import input_of, paged
from schemas.preferences import DeliveryQuerySchema, DeliverySchema, PreferencesSchema
from services.ledger import list_deliveries
from services.preferences import preferences_of, read_unsubscribe_token, unsubscribe, update_preferences

from ..auth import commit, current_user
from ..authenticated import authenticated
from ..requests import current_patient, page_of

blp = Blueprint("preferences", __name__, url_prefix="/api/v1",
                description="E-mail preferences, unsubscribing, and scheduled deliveries")
DeliveryPageSchema = paged(DeliverySchema, "DeliveryPage")
PreferencesInputSchema = input_of(PreferencesSchema)
_HTML_PAGE = {"type": "string", "description": "A small HTML page for a person following the link."}
# The token is the credential: keep it out of caches, referrers and search engines.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


@blp.route("/me/preferences")
class MyPreferences(MethodView):
    @authenticated
    @blp.doc(operationId="get_my_preferences")
    @blp.response(200, PreferencesSchema)
    def get(self):
        """Return how the caller wants to hear from Waypoint by e-mail."""
        return preferences_of(current_patient())

    @authenticated
    @blp.doc(operationId="put_my_preferences")
    @blp.arguments(PreferencesInputSchema)
    @blp.response(200, PreferencesSchema)
    def put(self, preferences):
        """Replace the caller's e-mail preferences: weekly summary, daily reminder and its pause."""
        saved = update_preferences(current_patient(), preferences, utcnow())
        commit()
        return saved


@blp.route("/unsubscribe/<token>")
class Unsubscribe(MethodView):
    @blp.response(200, _HTML_PAGE, content_type="text/html")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.doc(operationId="show_unsubscribe", security=[])
    def get(self, token):
        """Show what the unsubscribe link would turn off, with a button to confirm (no login)."""
        found = read_unsubscribe_token(token)
        if found.already:
            return _page("Already unsubscribed", f"You no longer get {found.what} from Waypoint.")
        return _page(
            "Unsubscribe?",
            f"Stop {found.what} from Waypoint? You can turn them back on in the app's settings.",
            button="Unsubscribe",
        )

    @blp.response(200, _HTML_PAGE, content_type="text/html")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.doc(operationId="confirm_unsubscribe", security=[])
    def post(self, token):
        """Unsubscribe from the kind of e-mail the link names (no login; a second time changes nothing)."""
        done = unsubscribe(token, utcnow())
        commit()
        return _page("Unsubscribed", f"You will no longer get {done.what} from Waypoint.")


@blp.route("/deliveries")
class Deliveries(MethodView):
    @authenticated
    @blp.doc(operationId="list_deliveries")
    @blp.arguments(DeliveryQuerySchema, location="query")
    @blp.response(200, DeliveryPageSchema)
    def get(self, query):
        """List the organization's scheduled e-mails, newest first; ?status=failed for the ones that bounced (admins)."""  # noqa: E501 (the contract's summary)
        rows, total = list_deliveries(current_user, status=query.get("status"), kind=query.get("kind"),
                                      page=query["page"], page_size=query["page_size"])
        return page_of([_delivery(delivery, user) for delivery, user in rows], total, query)


def _delivery(delivery, recipient) -> dict:
    fields = ("id", "kind", "period", "status", "attempts", "last_error", "next_attempt_at", "sent_at",
              "created_at", "message_id")
    return {"recipient": recipient, **{name: getattr(delivery, name) for name in fields}}


def _page(title: str, message: str, button: str | None = None) -> Response:
    form = (f'<form method="post"><button type="submit" style="padding:10px 20px;font-size:16px;">'
            f"{escape(button)}</button></form>") if button else ""
    body = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} - Waypoint</title></head>"
        '<body style="font-family:Arial,Helvetica,sans-serif;max-width:32em;margin:3em auto;padding:0 1em;">'
        f"<h1 style=\"font-size:1.4em;\">{escape(title)}</h1><p>{escape(message)}</p>{form}</body></html>"
    )
    return Response(body, status=200, mimetype="text/html", headers=_PAGE_HEADERS)
