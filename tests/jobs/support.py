"""Helpers for the scheduled-mail tests: a real SMTP server on loopback (aiosmtpd), preferences, the ledger."""
import asyncio
import socket
import threading
import time
from datetime import datetime, timezone
from email import message_from_bytes
from email.policy import default as default_policy

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Recorder:
    """aiosmtpd handler: keeps every accepted message; refuses the addresses it is told to."""

    def __init__(self):
        self.messages = []
        self.refuse = {}  # address -> SMTP reply, e.g. "550 5.1.1 No such mailbox"
        self.peers = set()
        self.hold_until_peers = 0  # hold every DATA until this many connections have sent MAIL
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            self.peers.add(session.peer)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        deadline = time.monotonic() + 15
        while len(self.peers) < self.hold_until_peers and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        message = message_from_bytes(envelope.content, policy=default_policy)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"


class MailServer:
    """An SMTP server on 127.0.0.1 that can be stopped and started again on the same port."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.handler = Recorder()
        self.controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self):
        return list(self.handler.messages)

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str):
        return [m for m in self.messages if m["To"] == address]


# --- patients with mail preferences -------------------------------------------------------------

ENROLLED_AT = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)


def set_preferences(user, **fields) -> None:
    """Store a user's mail preferences directly: the defaults, overridden by fields."""
    from models import NotificationPreference, db
    from services.preferences import Preferences

    row = db.session.get(NotificationPreference, user.id)
    if row is None:
        defaults = Preferences()
        row = NotificationPreference(user_id=user.id, weekly_summary=defaults.weekly_summary,
                                     reminders_enabled=defaults.reminders_enabled,
                                     reminder_time=defaults.reminder_time)
        db.session.add(row)
    for name, value in fields.items():
        setattr(row, name, value)
    db.session.commit()


def ledger(kind=None):
    """Return the delivery ledger rows (optionally of one kind), fresh from the database, in id order."""
    from sqlalchemy import select

    from models import Delivery, db

    query = select(Delivery).order_by(Delivery.id)
    if kind is not None:
        query = query.where(Delivery.kind == kind)
    db.session.expire_all()
    return list(db.session.scalars(query))
