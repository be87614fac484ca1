"""Who is calling the API: one bearer-token scheme, parametrised by how a token is looked up.

Each app makes its own instances next to its lookup (accounts/auth.py for teachers, sessions/auth.py
for students and projectors), so this module imports no app.
"""

from collections.abc import Callable

from ninja.security import HttpBearer


class BearerToken(HttpBearer):
    """`Authorization: Bearer <token>`: `lookup(token)` finds who it belongs to (None refuses),
    and the request carries them as `request.<attribute>`."""

    def __init__(self, lookup: Callable[[str], object | None], attribute: str):
        super().__init__()
        self.lookup = lookup
        self.attribute = attribute

    def authenticate(self, request, token: str):
        found = self.lookup(token)
        if found is not None:
            setattr(request, self.attribute, found)
        return found


def bearer_token(
    scheme: str, lookup: Callable[[str], object | None], *, attribute: str, description: str
) -> BearerToken:
    """A BearerToken known as `scheme` in the OpenAPI document: ninja names each security scheme
    after its class, and clients read these names (TeacherToken, StudentToken, ProjectorKey) and
    the description, which says where the token comes from."""
    attributes = {"__module__": __name__, "openapi_description": description}
    return type(scheme, (BearerToken,), attributes)(lookup, attribute)
