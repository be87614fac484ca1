"""Who may teach: the decision on a sign-in through Google or Microsoft, from the ID token's
verified claims and the schools' allow-list (accounts/models.py, School). No HTTP here:
accounts/oidc.py verifies the token first, accounts/services.py acts on the admission after."""

from collections.abc import Callable
from dataclasses import dataclass

from observability import signins

LABELS = {"google": "Google", "microsoft": "Microsoft"}


class SignInRefused(Exception):
    """A sign-in that must not go on; `outcome` is one of observability/signins.py's OIDC_OUTCOMES and
    picks the page the teacher is shown, `details` fills it in."""

    def __init__(self, outcome: str, **details):
        super().__init__(outcome)
        self.outcome = outcome
        self.details = details


@dataclass(frozen=True)
class Admission:
    """What a verified, admitted ID token says about the teacher."""

    subject: str
    email: str
    school_id: int
    given_name: str = ""
    family_name: str = ""


def _is_true(value) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def admit(provider: str, claims: dict, *, school_for_domain: Callable) -> Admission:
    """Whether the teacher's school lets them in, from verified claims alone.

    Every provider: an e-mail address whose domain is on a school's list.
    Google: `email_verified` true, and `hd` (the Google Workspace the account belongs to) one of
    the same school's domains; a personal Google account with a school address has no `hd`.
    Microsoft: when the school lists tenants, the token's `tid` must be one of them (the school's
    own directory vouches for its addresses); otherwise `xms_edov` or `email_verified` must be
    true (Microsoft sends neither unless the app registration asks for it; see the README).
    """
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise SignInRefused(signins.INVALID_TOKEN, reason="unusable sub")
    email = claims.get("email")
    if not email and provider == "microsoft":
        email = claims.get("preferred_username")
    if not isinstance(email, str) or email.count("@") != 1 or not email.partition("@")[0]:
        raise SignInRefused(signins.EMAIL_NOT_VERIFIED, email="")
    email = email.strip().lower()
    domain = email.rpartition("@")[2]
    school = school_for_domain(domain)
    if school is None:
        raise SignInRefused(signins.DOMAIN_NOT_ALLOWED, email=email, domain=domain)
    if provider == "google":
        if not _is_true(claims.get("email_verified")):
            raise SignInRefused(signins.EMAIL_NOT_VERIFIED, email=email)
        hosted_domain = claims.get("hd")
        if not isinstance(hosted_domain, str) or hosted_domain.lower() not in school.domains:
            raise SignInRefused(signins.DOMAIN_NOT_ALLOWED, email=email, domain=domain, personal=True)
    elif provider == "microsoft":
        tenant = claims.get("tid")
        if school.tenant_ids:
            if not isinstance(tenant, str) or tenant.lower() not in school.tenant_ids:
                raise SignInRefused(signins.TENANT_NOT_ALLOWED, email=email, school=school.name)
        elif not (_is_true(claims.get("xms_edov")) or _is_true(claims.get("email_verified"))):
            raise SignInRefused(signins.EMAIL_NOT_VERIFIED, email=email)
    return Admission(
        subject=subject,
        email=email,
        school_id=school.id,
        given_name=_text(claims.get("given_name")),
        family_name=_text(claims.get("family_name")),
    )


def _text(value, limit: int = 150) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""
