from datetime import timedelta

from django.utils import timezone

from accounts.models import ApiToken
from domain.tokens import TEACHER_PREFIX, token_hash

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
