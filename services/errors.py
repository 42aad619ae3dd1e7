"""Domain exceptions; the API maps each to one HTTP answer in one place."""
from datetime import datetime


class DomainError(Exception):
    """Base of every refusal the domain can give."""

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class NotFound(DomainError):
    """Missing, or outside the actor's reach: the two are indistinguishable."""


class NotAllowed(DomainError):
    """The actor's role may not do this at all (not about a record)."""


class InvalidInput(DomainError):
    """Input that passed the schema but breaks a domain rule; errors per field."""


class Conflict(DomainError):
    """The request clashes with the current state (e.g. an e-mail in use)."""


class CheckinLocked(Conflict):
    """The day's check-in is past the organization's edit window."""


class VersionRequired(DomainError):
    """Changing an existing check-in needs the version it was based on."""


class StaleVersion(DomainError):
    """The version the client edited is no longer the current one."""


class AuthenticationFailed(DomainError):
    """Wrong credentials, or a token that is no longer good."""


class SessionExpired(AuthenticationFailed):
    """The session has reached its absolute lifetime: refreshing cannot extend it."""


class LoginPaused(AuthenticationFailed):
    """Sign-in for an address (or from a device) is paused after too many failures."""

    def __init__(self, detail: str, until: datetime):
        super().__init__(detail)
        self.until = until
