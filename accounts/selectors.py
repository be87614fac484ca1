from dataclasses import dataclass

from accounts.models import ApiToken, ProviderIdentity, School, SchoolDomain


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
