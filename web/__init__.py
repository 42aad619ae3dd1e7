"""The care team's and the patients' web pages, served by the API's own app on the same origin.

The pages are HTML shells; their scripts read everything through the public
API (/api/v1) with an access token held in memory, so a figure on a page is
the API's figure and the page computes nothing clinical. The refresh token
lives in an HttpOnly cookie that only /web/session sees (api/browser_session.py,
which signs in with the API's own tokens, throttle and lockout).

Nothing here imports api: the app factory (api.create_app) mounts these pages
beside the API, as it would any other adapter.
"""
from flask import Blueprint, Flask, Response, redirect, render_template, url_for

web = Blueprint("web", __name__, template_folder="templates", static_folder="static",
                static_url_path="/web/static")

# Everything from this origin, nothing inline, no eval: a page's scripts and
# styles are files under /web/static, its data comes from /api/v1.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'self'")
_PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def _page(template: str, **context) -> Response:
    response = Response(render_template(template, **context), mimetype="text/html")
    response.headers.update(_PAGE_HEADERS)
    return response


@web.get("/")
def home():
    return redirect(url_for("web.caseload"))


@web.get("/signin")
def signin():
    return _page("signin.html", title="Sign in", page="signin")


@web.get("/caseload")
def caseload():
    return _page("caseload.html", title="Caseload", page="caseload", staff=True)


@web.get("/alerts")
def alerts():
    return _page("alerts.html", title="Alerts", page="alerts", staff=True)


@web.get("/patients/<id:patient_id>")
def patient(patient_id: int):
    return _page("patient.html", title="Patient", page="patient", staff=True, patient_id=patient_id)


@web.get("/admin")
def admin():
    return _page("admin.html", title="Administration", page="admin", staff=True)


@web.get("/summary")
def summary():
    return _page("summary.html", title="Your week", page="summary")


@web.get("/settings/notifications")
def notification_settings():
    return _page("settings.html", title="Notification settings", page="settings")


@web.get("/checkin")
def checkin():
    return _page("checkin.html", title="Check in", page="checkin")


def register_web(app: Flask) -> None:
    """Serve the pages from app (its url_map must know the `id` converter)."""
    app.register_blueprint(web)
