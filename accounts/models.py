import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

_DOMAIN = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
TENANT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class ApiToken(models.Model):
    """A teacher's token for scripts and the API; only its hash is kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"


class School(models.Model):
    """A school whose teachers may sign in with their school's Google or Microsoft account.

    A sign-in is admitted when the verified e-mail's domain is one of the school's domains; for
    Microsoft, the account's directory (tenant) must also be one of the school's tenants when the
    school lists any (see accounts/oidc.py, `admit`)."""

    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class SchoolDomain(models.Model):
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="domains")
    # Stored lower-case; matched exactly (a subdomain is a domain of its own).
    domain = models.CharField(max_length=253, unique=True)

    def __str__(self) -> str:
        return self.domain

    def clean(self):
        self.domain = (self.domain or "").strip().lower().rstrip(".").removeprefix("@")
        if not _DOMAIN.fullmatch(self.domain):
            raise ValidationError({"domain": f"{self.domain!r} is not a domain name like school.example.org"})


class SchoolTenant(models.Model):
    """A Microsoft Entra ID directory (the `tid` claim) that belongs to a school."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="tenants")
    tenant_id = models.CharField(max_length=36, unique=True)

    def __str__(self) -> str:
        return self.tenant_id

    def clean(self):
        self.tenant_id = (self.tenant_id or "").strip().lower()
        if not TENANT_ID.fullmatch(self.tenant_id):
            raise ValidationError(
                {"tenant_id": f"{self.tenant_id!r} is not a tenant id (a UUID such as the Directory ID)."}
            )


class ProviderIdentity(models.Model):
    """A teacher's account at an OpenID provider, found again by the provider's stable subject
    (`sub`), never by e-mail: addresses change hands, subjects do not."""

    provider = models.CharField(max_length=20)
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_identities"
    )
    # As the provider last vouched for it, for the admin; never used to find the teacher.
    email = models.EmailField(max_length=254)
    school = models.ForeignKey(
        School, on_delete=models.SET_NULL, null=True, blank=True, related_name="identities"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "subject"], name="one_teacher_per_provider_subject")
        ]
        verbose_name_plural = "provider identities"

    def __str__(self) -> str:
        return f"{self.provider}: {self.email}"
