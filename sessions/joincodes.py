"""Join codes: six characters a class can read off a projector and type without confusion."""

import re
import secrets

# No 0/O, 1/I/L: the pairs students misread. 31 symbols, so 31**6 ≈ 887 million codes.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 6
_SEPARATORS = re.compile(r"[\s\-]+")


def new_join_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize_join_code(raw: str) -> str | None:
    """The canonical form of what a student typed, or None when it cannot be a join code."""
    code = _SEPARATORS.sub("", raw).upper()
    if len(code) != LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code
