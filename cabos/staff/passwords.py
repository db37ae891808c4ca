"""Password hashing (argon2id) and the policy every new password must pass.

The policy follows NIST SP 800-63B: a minimum length, no composition rules,
and a refusal of passwords attackers try first (the bundled list of the
10,000 most common, also when padded with digits or doubled).
"""

from __future__ import annotations

import functools
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 takes any length; this only bounds the work one request can ask for
COMMON_FILE = Path(__file__).parent / "common_passwords.txt"
_PADDING = "0123456789!@#$%^&*.?-_ "

# argon2-cffi's defaults are RFC 9106's second recommended profile (argon2id, 64 MiB, t=3).
_hasher = PasswordHasher()
# Verified when the email is unknown, so both answers cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password-only-for-timing")


class WeakPassword(ValueError):
    """The password is refused; the message says why and what to do."""


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def is_common(password: str) -> bool:
    """True for a listed password, also with digits or symbols added at the end, or doubled."""
    common = common_passwords()
    folded = password.lower()
    stripped = folded.rstrip(_PADDING)
    half = len(folded) // 2
    doubled = len(folded) % 2 == 0 and folded[:half] == folded[half:] and folded[:half] in common
    return folded in common or (len(stripped) >= 4 and stripped in common) or doubled


def check_policy(password: str, email: str = "") -> None:
    """Raise ``WeakPassword`` when ``password`` may not be used."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"use at least {MIN_LENGTH} characters (a few words make a good one)")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"use at most {MAX_LENGTH} characters")
    if len(set(password)) < 5:
        raise WeakPassword("use more different characters")
    local = email.split("@", 1)[0].lower()
    if is_common(password) or (len(local) >= 4 and local in password.lower()):
        raise WeakPassword("this password is too common or too easy to guess; choose another")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check ``password``; with no hash (unknown user) spend the same time and say no."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)
