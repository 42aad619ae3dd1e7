"""Where mail goes and where its links point: the settings every sender reads.

Messages themselves go through the delivery ledger (services.delivery):
the scheduled ones from the jobs, the ones a request owes (the urgent
notice, a password-reset link) through services.outbox.

Settings (app config first, then the environment):
``SMTP_URL`` ``smtp://[user:password@]host:port`` (``smtps://`` for TLS from the
start) sends with smtplib; without it each message is written as an .eml file
into ``OUTBOX_DIR`` (default ``<instance>/outbox``). ``MAIL_FROM`` is the sender
address; ``PUBLIC_BASE_URL`` the address of Waypoint's pages in links.
"""
from __future__ import annotations

import os
from pathlib import Path

from flask import current_app, has_app_context

DEFAULT_MAIL_FROM = "Waypoint <no-reply@waypoint.invalid>"


def public_link(path: str) -> str:
    """Return the address of a page of Waypoint, for a link in a message."""
    base = _setting("PUBLIC_BASE_URL") or "http://127.0.0.1:5000"
    return base.rstrip("/") + path


def _setting(name: str) -> str | None:
    value = current_app.config.get(name) if has_app_context() else None
    return value or os.environ.get(name) or None


def _mail_from() -> str:
    return _setting("MAIL_FROM") or DEFAULT_MAIL_FROM


def _outbox_dir() -> Path:
    configured = _setting("OUTBOX_DIR")
    if configured:
        return Path(configured)
    if has_app_context():
        return Path(current_app.instance_path) / "outbox"
    return Path("instance") / "outbox"
