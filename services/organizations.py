"""The organizations Waypoint serves, for the passes that work through them one at a time."""
from __future__ import annotations

from sqlalchemy import select

from models import Organization, db


def organization_ids() -> list[int]:
    """Return every organization's id, in creation order."""
    return list(db.session.scalars(select(Organization.id).order_by(Organization.id)))
