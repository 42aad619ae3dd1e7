"""Password hashing with argon2id, and the rules a new password must meet."""
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from .errors import InvalidInput

# OWASP's password storage guidance: argon2id, 19 MiB, 2 iterations, 1 lane.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the e-mail is unknown, so a miss costs what a hit costs.
_DUMMY_HASH = _hasher.hash("not-a-password-anyone-has")

# ASVS 5.0 (6.2.1): at least 12 characters; no rules on character classes (6.2.5).
MIN_PASSWORD_LENGTH = 12
# zxcvbn's score 3: an estimated 10^8 guesses or more. Below it are the
# passwords of its lists (about 30,000 from real breaches, plus common words,
# names and keyboard walks, and their l33t and reversed forms), repeats,
# sequences and dates: what an attacker tries first. The lists ship with the
# package, so the check runs offline in about a millisecond.
MIN_STRENGTH = 3
# zxcvbn's time grows steeply with length (about 0.9 s at 256 characters);
# the first 72 are judged, as zxcvbn itself advises.
_JUDGED_LENGTH = 72
# Context words (ASVS 6.2.11): the product's name, beside the person's address.
_CONTEXT_WORDS = ("waypoint",)
# A local part this short ("jo@...") occurs in passwords by chance.
_MIN_LOCAL_PART = 3


def hash_password(password: str) -> str:
    """Hash a password for storage."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Tell whether password matches; take the same time when there is no hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def check_new_password(password: str, email: str | None) -> list[str]:
    """Return what is wrong with password as a new password for email (empty: nothing).

    Every problem is listed at once, in words meant for the person choosing it.
    """
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    folded = password.casefold()
    address = (email or "").strip().casefold()
    local_part = address.split("@", 1)[0]
    if address and folded == address:
        problems.append("Must not be your e-mail address.")
    elif len(local_part) >= _MIN_LOCAL_PART and local_part in folded:
        problems.append("Must not contain the part of your e-mail address before the @.")
    if password:
        problems.extend(_guessability(password, address, local_part))
    return problems


def require_new_password(password: str, email: str | None, field: str = "password") -> None:
    """Raise InvalidInput, with the problems under field, unless password may be set for email."""
    if problems := check_new_password(password, email):
        raise InvalidInput("The password is not allowed.", {field: problems})


def _guessability(password: str, address: str, local_part: str) -> list[str]:
    words = [address, local_part, *local_part.replace("_", ".").replace("-", ".").split("."), *_CONTEXT_WORDS]
    estimate = zxcvbn(password[:_JUDGED_LENGTH], user_inputs=[word for word in words if word])
    if estimate["score"] >= MIN_STRENGTH:
        return []
    warning = estimate["feedback"]["warning"] or "This password is easy to guess."
    advice = " ".join(estimate["feedback"]["suggestions"])
    return [f"{warning} {advice}".strip()]
