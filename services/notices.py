"""The urgent notice: the care team hears at once that a patient needs attention.

An urgent alert (self-harm thoughts, PHQ-9 item 9, or an alert that became
urgent or came back after someone had looked) owes each active clinician
on the patient's care team one notice. It is owed in the alert's own
transaction through the delivery ledger and sent by services.outbox right
after the commit, retried with backoff while the mail server is away and
marked failed for admins to see (GET /deliveries?status=failed) only past
TIMING[URGENT_NOTICE].retry_for. The notice is neutral on purpose ("minimum
necessary"): no name, no rule, no score, only a link to sign in.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from html import escape

from sqlalchemy import select

from models import Alert, AlertStatus, CareTeamMember, Role, User, db

from .delivery import Letter, Skip
from .ledger import URGENT_NOTICE, Claimed, owe
from .mail import public_link

NOTICE_SUBJECT = "Waypoint: a patient on your care team needs attention"
ALERTS_PATH = "/alerts"


def notice_text() -> str:
    """Return the neutral body of an urgent notice: no name, no rule, no score."""
    return (
        "A patient on your care team needs attention.\n\n"
        f"Open Waypoint: {public_link(ALERTS_PATH)}\n\n"
        "This notice carries no details on purpose; sign in to see them.\n"
    )


def notice_html() -> str:
    """Return the same words as HTML, the link a link."""
    link = escape(public_link(ALERTS_PATH))
    return (
        "<p>A patient on your care team needs attention.</p>\n"
        f'<p><a href="{link}">Open Waypoint</a></p>\n'
        "<p>This notice carries no details on purpose; sign in to see them.</p>\n"
    )


def notice_period(alert: Alert) -> str:
    """Return the ledger period of the notice this trigger of the alert owes: one per trigger."""
    return f"a{alert.id}.{alert.trigger_count}"


def notify_care_team(alert: Alert, now: datetime) -> None:
    """Owe each active clinician on the patient's care team one notice of this trigger (no commit)."""
    clinicians = db.session.scalars(
        select(User.id).join(CareTeamMember, CareTeamMember.clinician_id == User.id)
        .where(CareTeamMember.patient_id == alert.patient_id, User.is_active.is_(True),
               User.role == Role.clinician)
        .order_by(User.id)
    )
    period = notice_period(alert)
    for clinician_id in clinicians:
        owe(URGENT_NOTICE, clinician_id, period, now)


def compose_urgent_notices(batch: list[Claimed]) -> Mapping[int, Letter | Skip]:
    """Compose each claimed notice; skip one whose clinician left or whose alert was resolved."""
    users = {user.id: user for user in db.session.scalars(
        select(User).where(User.id.in_({d.recipient_id for d in batch})))}
    alert_ids = {_alert_id(d.period) for d in batch}
    resolved = set(db.session.scalars(
        select(Alert.id).where(Alert.id.in_(alert_ids), Alert.status == AlertStatus.resolved)))
    text, html = notice_text(), notice_html()
    letters: dict[int, Letter | Skip] = {}
    for delivery in batch:
        user = users.get(delivery.recipient_id)
        if user is None or not user.is_active or user.role is not Role.clinician:
            letters[delivery.id] = Skip("recipient no longer an active clinician")
        elif _alert_id(delivery.period) in resolved:
            letters[delivery.id] = Skip("alert resolved before the notice could go")
        else:
            letters[delivery.id] = Letter(user.email, NOTICE_SUBJECT, text, html)
    return letters


def _alert_id(period: str) -> int:
    return int(period[1:].partition(".")[0])
