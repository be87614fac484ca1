"""How a teacher calls the API: an API token, or the browser's login session."""

from ninja.security import django_auth

from accounts.services import use_api_token
from web.auth import bearer_token

teacher_auth = [bearer_token("TeacherToken", use_api_token, attribute="user"), django_auth]
