from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.admission import Admission
from accounts.models import ApiToken, ProviderIdentity, School, SchoolDomain, SchoolTenant
from domain import untrusted
from domain.errors import DomainError
from domain.tokens import TEACHER_PREFIX, new_token, token_hash
from runtime import broadcast

User = get_user_model()

# last_used_at is advisory; writing it on every request would turn every read into a write.
_LAST_USED_RESOLUTION = timedelta(minutes=5)


def _clean_email(email: str) -> str:
    email = untrusted.clean_text(email, field="email").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise DomainError("invalid", "email is not an e-mail address", field="email") from exc
    return email


@transaction.atomic
def create_teacher(*, username: str, password: str, email: str = "") -> "User":
    username = untrusted.clean_text(username, field="username").strip()
    untrusted.clean_text(password, field="password")
    email = _clean_email(email)
    if User.objects.filter(username__iexact=username).exists():
        raise DomainError("username_taken", f"The username {username!r} is taken.", field="username")
    candidate = User(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise DomainError("invalid", " ".join(exc.messages), field="password") from exc
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
    except IntegrityError as exc:
        raise DomainError("username_taken", f"The username {username!r} is taken.", field="username") from exc
    return candidate


def issue_api_token(*, user, name: str) -> tuple[ApiToken, str]:
    """Returns the stored token and its plaintext, which is shown once and never again."""
    name = untrusted.clean_text(name, field="name")
    plaintext = new_token(TEACHER_PREFIX)
    token = ApiToken.objects.create(user=user, name=name, token_hash=token_hash(plaintext))
    return token, plaintext


@transaction.atomic
def revoke_api_token(*, user, token_id: int) -> None:
    """Deletes the token; sockets it opened are closed within moments (live/consumers.py)."""
    token = ApiToken.objects.select_for_update().filter(user=user, id=token_id).first()
    if token is None:
        raise DomainError("not_found", f"No API token {token_id} of yours.", field="token_id")
    token.delete()
    revoke_socket_credentials(user_id=user.pk, credentials=[("token", token.token_hash)])


def revoke_socket_credentials(*, user_id: int, credentials: list[tuple[str, str]]) -> None:
    """After commit, closes the teacher's sockets that were opened with one of `credentials`:
    ("token", the API token's hash) or ("login", the hash of a login session's key)."""
    broadcast.notify_after_commit(
        broadcast.teacher_group_name(user_id),
        {"type": "credentials.revoked", "credentials": [list(credential) for credential in credentials]},
    )


def use_api_token(plaintext: str):
    """The active teacher an API token belongs to, or None; notes when the token was last used
    (at most once per _LAST_USED_RESOLUTION, so most calls only read)."""
    if not plaintext.startswith(TEACHER_PREFIX):
        return None
    token = ApiToken.objects.select_related("user").filter(token_hash=token_hash(plaintext)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


# --- teachers who sign in with their school's Google or Microsoft account -----------------------


def sign_in_with_provider(*, provider: str, admission: Admission) -> tuple["User", bool]:
    """The teacher this provider account belongs to, found by (provider, subject) and never by
    e-mail; made on their first sign-in. Returns (teacher, created)."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                identity = (
                    ProviderIdentity.objects.select_for_update()
                    .select_related("user")
                    .filter(provider=provider, subject=admission.subject)
                    .first()
                )
                if identity is not None:
                    if not identity.user.is_active:
                        raise DomainError("inactive", "This teacher account has been switched off.")
                    _record_sign_in(identity, admission)
                    return identity.user, False
                teacher = User(
                    username=_free_username(admission.email),
                    email=admission.email,
                    first_name=admission.given_name,
                    last_name=admission.family_name,
                )
                # The provider is their only way in until they set a password somewhere.
                teacher.set_unusable_password()
                teacher.save()
                _new_identity(teacher, provider, admission)
                return teacher, True
        except IntegrityError:
            # The same first sign-in finished in another tab a moment earlier (the identity), or a
            # username was taken meanwhile: look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def link_provider(*, user, provider: str, admission: Admission) -> ProviderIdentity:
    """Adds a provider account to a signed-in teacher (for example one who has a password)."""
    identity = (
        ProviderIdentity.objects.select_for_update()
        .filter(provider=provider, subject=admission.subject)
        .first()
    )
    if identity is not None:
        if identity.user_id != user.pk:
            raise DomainError("identity_in_use", "This account already signs another teacher in.")
        _record_sign_in(identity, admission)
        return identity
    try:
        with transaction.atomic():
            return _new_identity(user, provider, admission)
    except IntegrityError as exc:
        raise DomainError("identity_in_use", "This account already signs another teacher in.") from exc


def unlink_provider(*, user, identity_id: int, password_sign_in: bool) -> None:
    """Removes a provider account from a teacher, unless it is their last way to sign in."""
    with transaction.atomic():
        identities = list(ProviderIdentity.objects.select_for_update().filter(user=user))
        target = next((i for i in identities if i.pk == identity_id), None)
        if target is None:
            raise DomainError("not_found", f"No linked account {identity_id} of yours.", field="identity_id")
        has_password = password_sign_in and user.has_usable_password()
        if len(identities) == 1 and not has_password:
            raise DomainError("last_sign_in", "This is your only way to sign in; link another first.")
        target.delete()


def _new_identity(user, provider: str, admission: Admission) -> ProviderIdentity:
    return ProviderIdentity.objects.create(
        provider=provider,
        subject=admission.subject,
        user=user,
        email=admission.email,
        school_id=admission.school_id,
        last_sign_in_at=timezone.now(),
    )


def _record_sign_in(identity: ProviderIdentity, admission: Admission) -> None:
    ProviderIdentity.objects.filter(pk=identity.pk).update(
        email=admission.email, school_id=admission.school_id, last_sign_in_at=timezone.now()
    )


def _free_username(email: str) -> str:
    """The address itself, or the address with a number when a teacher already has that name
    (only a name: an account is never joined to another by its e-mail)."""
    base = email[:150]
    if not User.objects.filter(username__iexact=base).exists():
        return base
    for number in range(2, 10_000):
        candidate = f"{email[:140]}-{number}"
        if not User.objects.filter(username__iexact=candidate).exists():
            return candidate
    raise DomainError("username_taken", "No free username for this address.")


# --- the schools' allow-list ---------------------------------------------------------------------


@transaction.atomic
def allow_school(*, name: str, domains: list[str] = (), tenant_ids: list[str] = ()) -> School:
    """Creates the school if it is new and adds the domains and Microsoft tenants to its list."""
    name = name.strip()
    if not name:
        raise DomainError("invalid", "A school needs a name.", field="name")
    school, _created = School.objects.get_or_create(name=name)
    for domain in domains:
        _add_to_list(SchoolDomain(school=school, domain=domain), "domain")
    for tenant_id in tenant_ids:
        _add_to_list(SchoolTenant(school=school, tenant_id=tenant_id), "tenant_id")
    return school


def _add_to_list(entry, field: str) -> None:
    try:
        entry.full_clean(exclude=["school"], validate_unique=False)
    except ValidationError as exc:
        raise DomainError("invalid", " ".join(exc.messages), field=field) from exc
    value = getattr(entry, field)
    existing = type(entry).objects.filter(**{field: value}).select_related("school").first()
    if existing is not None:
        if existing.school_id != entry.school.pk:
            raise DomainError("invalid", f"{value} is already on {existing.school.name}'s list.", field=field)
        return
    entry.save()


@transaction.atomic
def disallow(*, school_name: str, domains: list[str] = (), tenant_ids: list[str] = ()) -> bool:
    """Takes domains and tenants off a school's list, or, given neither, the school itself (its
    teachers keep their accounts but can no longer sign in with a provider). Returns whether the
    school is gone."""
    school = School.objects.filter(name=school_name.strip()).first()
    if school is None:
        raise DomainError("not_found", f"No school named {school_name!r}.", field="name")
    if not domains and not tenant_ids:
        school.delete()
        return True
    for domain in domains:
        removed, _ = school.domains.filter(domain=domain.strip().lower()).delete()
        if not removed:
            raise DomainError("not_found", f"{domain} is not on {school.name}'s list.", field="domain")
    for tenant_id in tenant_ids:
        removed, _ = school.tenants.filter(tenant_id=tenant_id.strip().lower()).delete()
        if not removed:
            raise DomainError("not_found", f"{tenant_id} is not on {school.name}'s list.", field="tenant_id")
    return False
