"""The one clock the code reads: model defaults, services and jobs all ask it (tests freeze it)."""
from collections.abc import Callable
from datetime import datetime, timezone


def utcnow() -> datetime:
    """Return the current instant; the one clock the code reads (tests freeze it)."""
    return _clock()


def _system_clock() -> datetime:
    return datetime.now(timezone.utc)


_clock = _system_clock


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); pass None to restore the system clock."""
    global _clock
    _clock = clock or _system_clock
