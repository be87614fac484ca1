"""Bearer secrets for teachers' API tokens and students' session tokens.

A token is a kind prefix plus 192 random bits from the OS CSPRNG. Only its SHA-256 is stored:
with that much entropy a fast hash is enough, and it lets us find the owner by an indexed lookup.
"""

import hashlib
import secrets

TEACHER_PREFIX = "pdt_"
STUDENT_PREFIX = "pds_"
PROJECTOR_PREFIX = "pdp_"


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
