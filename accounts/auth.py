"""How a teacher calls the API: an API token, or the browser's login session."""

from ninja.security import SessionAuth

from accounts.services import use_api_token
from web.auth import bearer_token


class TeacherLogin(SessionAuth):
    """The teacher's browser login (the pages use it); writes need the CSRF token too."""

    openapi_description = (
        "The session cookie of a teacher signed in at /accounts/login/ (what the pages use). "
        "Writes also need the CSRF token in X-CSRFToken; API clients use TeacherToken instead."
    )


teacher_auth = [
    bearer_token(
        "TeacherToken",
        use_api_token,
        attribute="user",
        description=(
            "A teacher's API token, `pdt_…`: from POST /api/auth/signup, POST /api/auth/tokens "
            "(username and password) or `manage.py seed_demo`."
        ),
    ),
    TeacherLogin(),
]
