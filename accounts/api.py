from datetime import datetime

from django.conf import settings
from django.contrib.auth import authenticate
from ninja import Field, Router, Status

from accounts import services
from accounts.auth import teacher_auth
from accounts.selectors import api_tokens_of
from domain.errors import DomainError
from domain.untrusted import Text
from observability import signins
from web.contract import Document, Id, Input, errors
from web.ratelimit import check_rate, client_address

router = Router(tags=["teacher accounts"])


class SignupIn(Input):
    username: Text = Field(min_length=1, max_length=150, pattern=r"^[\w.@+-]+$")
    password: Text = Field(min_length=1, max_length=200)
    email: Text = Field(default="", max_length=254)


class CredentialsIn(Input):
    username: Text = Field(min_length=1, max_length=150)
    password: Text = Field(min_length=1, max_length=200)
    name: Text = Field(
        default="api", min_length=1, max_length=100, description="a label to tell tokens apart"
    )


class TokenOut(Document):
    """A new API token: its id (to revoke it), its label and the token itself."""

    id: int = Field(description="the token's id (DELETE /api/auth/tokens/{token_id})")
    name: str
    token: str = Field(description="shown once; keep it secret (the TeacherToken scheme)")


class TokenInfo(Document):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


class MeOut(Document):
    id: int = Field(description="the teacher's id")
    username: str
    email: str


class SignedUp(Document):
    teacher: MeOut
    api_token: TokenOut


def _me(user) -> dict:
    return {"id": user.pk, "username": user.get_username(), "email": user.email}


@router.post(
    "/auth/signup",
    response={201: SignedUp},
    auth=None,
    operation_id="sign_up",
    summary="Create a teacher account and a first API token",
    openapi_extra=errors("rate_limited", "password_sign_in_disabled", "username_taken"),
)
def signup(request, payload: SignupIn):
    check_rate("login", client_address(request))
    _password_sign_in_allowed()
    user = services.create_teacher(username=payload.username, password=payload.password, email=payload.email)
    signins.count(signins.PASSWORD, signins.CREATED)
    token, plaintext = services.issue_api_token(user=user, name="signup")
    return Status(
        201, {"teacher": _me(user), "api_token": {"id": token.pk, "name": token.name, "token": plaintext}}
    )


@router.post(
    "/auth/tokens",
    response={201: TokenOut},
    auth=None,
    operation_id="create_api_token",
    summary="Exchange a username and password for an API token",
    openapi_extra=errors("rate_limited", "password_sign_in_disabled", "bad_credentials"),
)
def create_token(request, payload: CredentialsIn):
    check_rate("login", client_address(request))
    _password_sign_in_allowed()
    user = authenticate(request, username=payload.username, password=payload.password)
    if user is None:
        signins.count(signins.PASSWORD, signins.BAD_CREDENTIALS)
        raise DomainError("bad_credentials", "Unknown username or wrong password.")
    signins.count(signins.PASSWORD, signins.SIGNED_IN)
    token, plaintext = services.issue_api_token(user=user, name=payload.name)
    return Status(201, {"id": token.pk, "name": token.name, "token": plaintext})


def _password_sign_in_allowed() -> None:
    if not settings.PASSWORD_SIGN_IN:
        signins.count(signins.PASSWORD, signins.DISABLED)
        raise DomainError(
            "password_sign_in_disabled",
            "Password sign-in is switched off here; teachers sign in with their school's account.",
        )


@router.get(
    "/auth/tokens",
    response=list[TokenInfo],
    auth=teacher_auth,
    operation_id="list_api_tokens",
    summary="List your API tokens",
)
def list_tokens(request):
    return [
        {
            "id": token.pk,
            "name": token.name,
            "created_at": token.created_at,
            "last_used_at": token.last_used_at,
        }
        for token in api_tokens_of(request.user)
    ]


@router.delete(
    "/auth/tokens/{token_id}",
    response={204: None},
    auth=teacher_auth,
    operation_id="revoke_api_token",
    summary="Revoke an API token",
    openapi_extra=errors("not_found"),
)
def revoke_token(request, token_id: Id):
    services.revoke_api_token(user=request.user, token_id=token_id)
    return Status(204, None)


@router.get(
    "/auth/me",
    response=MeOut,
    auth=teacher_auth,
    operation_id="get_me",
    summary="The teacher you are authenticated as",
)
def me(request):
    return _me(request.user)
