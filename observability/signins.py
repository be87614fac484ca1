"""Teachers' sign-ins counted in peardeck_teacher_sign_ins_total{provider, outcome}.

Both labels take only the values below, so the series stay few whatever happens; an outcome is
the machine word the refusal page is chosen by (accounts/oidc.py, SignInRefused.outcome)."""

from observability import metrics

OIDC_PROVIDERS = ("google", "microsoft")
PASSWORD = "password"

# Admitted.
SIGNED_IN = "signed_in"  # found again by (provider, subject), or a right password
CREATED = "created"  # the first sign-in made the teacher (or a password signup did)
LINKED = "linked"  # a signed-in teacher added this provider to their account
# Refused by the schools' allow-list or the provider's word on the address.
DOMAIN_NOT_ALLOWED = "domain_not_allowed"
TENANT_NOT_ALLOWED = "tenant_not_allowed"
EMAIL_NOT_VERIFIED = "email_not_verified"
# Refused because the answer cannot be trusted or does not belong to this browser.
INVALID_STATE = "invalid_state"
INVALID_TOKEN = "invalid_token"
PROVIDER_ERROR = "provider_error"
# Refused for the account's sake.
IDENTITY_IN_USE = "identity_in_use"
INACTIVE = "inactive"
BAD_CREDENTIALS = "bad_credentials"
DISABLED = "disabled"  # password sign-in is switched off

OIDC_OUTCOMES = (
    SIGNED_IN,
    CREATED,
    LINKED,
    DOMAIN_NOT_ALLOWED,
    TENANT_NOT_ALLOWED,
    EMAIL_NOT_VERIFIED,
    INVALID_STATE,
    INVALID_TOKEN,
    PROVIDER_ERROR,
    IDENTITY_IN_USE,
    INACTIVE,
)
PASSWORD_OUTCOMES = (SIGNED_IN, CREATED, BAD_CREDENTIALS, DISABLED)


def count(provider: str, outcome: str) -> None:
    allowed = PASSWORD_OUTCOMES if provider == PASSWORD else OIDC_OUTCOMES
    if provider not in (*OIDC_PROVIDERS, PASSWORD) or outcome not in allowed:
        raise ValueError(f"undeclared sign-in series {provider!r}/{outcome!r}")
    metrics.TEACHER_SIGN_INS.labels(provider, outcome).inc()


def create_declared_series() -> None:
    for provider in OIDC_PROVIDERS:
        for outcome in OIDC_OUTCOMES:
            metrics.TEACHER_SIGN_INS.labels(provider, outcome)
    for outcome in PASSWORD_OUTCOMES:
        metrics.TEACHER_SIGN_INS.labels(PASSWORD, outcome)
