"""The schools' allow-list, kept with `manage.py schools` or in the Django admin."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.models import School, SchoolDomain, SchoolTenant
from accounts.selectors import school_for_domain

TENANT = "7D1F0A52-3C4B-4E8E-9A41-5B2F6C0D9E11"


def schools(*args) -> str:
    out = StringIO()
    call_command("schools", *args, stdout=out)
    return out.getvalue()


def test_the_command_allows_lists_and_disallows_schools(db):
    assert "nobody can sign in" in schools("list")

    schools("allow", "Springfield Elementary", "--domain", "Springfield.Example", "--domain", "@sps.example")
    schools("allow", "Springfield Elementary", "--tenant", TENANT)
    listed = schools("list")

    assert "Springfield Elementary: springfield.example, sps.example" in listed
    assert TENANT.lower() in listed
    policy = school_for_domain("SPS.example")
    assert policy.domains == {"springfield.example", "sps.example"}
    assert policy.tenant_ids == {TENANT.lower()}

    schools("disallow", "Springfield Elementary", "--domain", "sps.example")
    assert school_for_domain("sps.example") is None
    schools("disallow", "Springfield Elementary")
    assert not School.objects.exists() and not SchoolDomain.objects.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["allow", "Springfield", "--domain", "not a domain"],
        ["allow", "Springfield", "--tenant", "not-a-uuid"],
        ["disallow", "Shelbyville"],
        ["disallow", "Springfield", "--domain", "never-listed.example"],
    ],
)
def test_the_command_refuses_bad_input_with_a_message_and_changes_nothing(db, args):
    schools("allow", "Springfield", "--domain", "springfield.example")
    with pytest.raises(CommandError):
        schools(*args)
    assert list(SchoolDomain.objects.values_list("domain", flat=True)) == ["springfield.example"]
    assert not SchoolTenant.objects.exists()


def test_a_domain_belongs_to_one_school_only(db):
    schools("allow", "Springfield", "--domain", "springfield.example")
    with pytest.raises(CommandError, match="already on Springfield's list"):
        schools("allow", "Shelbyville", "--domain", "springfield.example")


def test_the_admin_edits_a_schools_list_and_shows_who_signed_in(client, db):
    get_user_model().objects.create_superuser("it-admin", "it@springfield.example", "root-password-42")
    client.login(username="it-admin", password="root-password-42")
    form = {
        "name": "Springfield Elementary",
        "domains-TOTAL_FORMS": "1",
        "domains-INITIAL_FORMS": "0",
        "domains-0-domain": "Springfield.Example",
        "tenants-TOTAL_FORMS": "1",
        "tenants-INITIAL_FORMS": "0",
        "tenants-0-tenant_id": TENANT,
    }

    added = client.post("/admin/accounts/school/add/", form)

    assert added.status_code == 302, added.content.decode()[:2000]
    assert school_for_domain("springfield.example").tenant_ids == {TENANT.lower()}
    assert client.get("/admin/accounts/school/").status_code == 200
    assert client.get("/admin/accounts/provideridentity/").status_code == 200
