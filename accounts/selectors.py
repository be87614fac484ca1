from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from accounts.models import ApiToken, ProviderIdentity, School, SchoolDomain
from peardeck.tokens import TEACHER_PREFIX, token_hash

# last_used_at is advisory; writing it on every request would turn every read into a write.
_LAST_USED_RESOLUTION = timedelta(minutes=5)


def teacher_for_api_token(plaintext: str):
    if not plaintext.startswith(TEACHER_PREFIX):
        return None
    token = ApiToken.objects.select_related("user").filter(token_hash=token_hash(plaintext)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def api_tokens_of(user):
    return ApiToken.objects.filter(user=user).order_by("-created_at")


@dataclass(frozen=True)
class SchoolPolicy:
    """What admission needs to know of a school (accounts/oidc.py, `admit`)."""

    id: int
    name: str
    domains: frozenset[str]
    tenant_ids: frozenset[str]


def school_for_domain(domain: str) -> SchoolPolicy | None:
    entry = SchoolDomain.objects.select_related("school").filter(domain=domain.strip().lower()).first()
    if entry is None:
        return None
    school = entry.school
    return SchoolPolicy(
        id=school.pk,
        name=school.name,
        domains=frozenset(school.domains.values_list("domain", flat=True)),
        tenant_ids=frozenset(school.tenants.values_list("tenant_id", flat=True)),
    )


def provider_identities_of(user):
    return (
        ProviderIdentity.objects.filter(user=user).select_related("school").order_by("provider", "created_at")
    )


def schools_with_their_lists():
    return School.objects.prefetch_related("domains", "tenants").order_by("name")
