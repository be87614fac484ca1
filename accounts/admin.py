from django.contrib import admin

from accounts.models import ApiToken, ProviderIdentity, School, SchoolDomain, SchoolTenant


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "created_at", "last_used_at")
    readonly_fields = ("token_hash", "created_at", "last_used_at")
    search_fields = ("name", "user__username")


class SchoolDomainInline(admin.TabularInline):
    model = SchoolDomain
    extra = 1
    verbose_name = "e-mail domain"


class SchoolTenantInline(admin.TabularInline):
    model = SchoolTenant
    extra = 0
    verbose_name = "Microsoft tenant"
    verbose_name_plural = "Microsoft tenants (when listed, Microsoft sign-ins must come from one of them)"


@admin.register(School)
class SchoolAdmin(admin.ModelAdmin):
    """The allow-list: teachers whose verified address is in one of a school's domains may sign in
    with Google or Microsoft (accounts/admission.py); `manage.py schools` edits the same list."""

    list_display = ("name", "domain_list", "tenant_count", "created_at")
    search_fields = ("name", "domains__domain", "tenants__tenant_id")
    inlines = [SchoolDomainInline, SchoolTenantInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("domains", "tenants")

    @admin.display(description="domains")
    def domain_list(self, school):
        return ", ".join(sorted(d.domain for d in school.domains.all()))

    @admin.display(description="Microsoft tenants")
    def tenant_count(self, school):
        return len(school.tenants.all())


@admin.register(ProviderIdentity)
class ProviderIdentityAdmin(admin.ModelAdmin):
    """Who signed in with which school account, and when last."""

    list_display = ("email", "provider", "user", "school", "last_sign_in_at", "created_at")
    list_filter = ("provider", "school")
    search_fields = ("email", "user__username", "subject")
    readonly_fields = ("provider", "subject", "user", "email", "school", "created_at", "last_sign_in_at")

    def has_add_permission(self, request):
        # Identities come from the provider's verified word only.
        return False
