from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiToken
from domain.errors import DomainError
from domain.tokens import TEACHER_PREFIX, new_token, token_hash

User = get_user_model()

# last_used_at is advisory; writing it on every request would turn every read into a write.
_LAST_USED_RESOLUTION = timedelta(minutes=5)


@transaction.atomic
def create_teacher(*, username: str, password: str, email: str = "") -> "User":
    username = username.strip()
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
    plaintext = new_token(TEACHER_PREFIX)
    token = ApiToken.objects.create(user=user, name=name, token_hash=token_hash(plaintext))
    return token, plaintext


def revoke_api_token(*, user, token_id: int) -> None:
    deleted, _ = ApiToken.objects.filter(user=user, id=token_id).delete()
    if not deleted:
        raise DomainError("not_found", f"No API token {token_id} of yours.", field="token_id")


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
