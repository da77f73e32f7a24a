"""What every API operation shares: who may call it (personal Bearer tokens or the browser session,
checked against the role table in team.models before the request body is even read) and the shapes
of its error answers."""

from ninja import Schema, security
from ninja.errors import HttpError

from .models import ApiToken, allows, role_of


def _checked(user, permission):
    """The user, if their role allows `permission`; a 403 with the reason if not (None stays None: 401)."""
    if user and permission and not allows(user, permission):
        role = role_of(user)
        raise HttpError(403, f"Your role ({role.label if role else 'none'}) may not do this.")
    return user


class BearerToken(security.HttpBearer):
    """`Authorization: Bearer <token>` with a personal token from `manage.py api_token` or the tokens page."""

    def __init__(self, permission=None):
        super().__init__()
        self.permission = permission

    def authenticate(self, request, token):
        user = ApiToken.user_for(token)
        if user is not None:
            request.user = user
        return _checked(user, self.permission)


class SessionAuth(security.SessionAuth):
    """The browser's session (ninja checks its CSRF token on unsafe methods). A request that sends an
    Authorization header is judged by that alone: a wrong or revoked token is a 401, not a CSRF failure."""

    def __init__(self, permission=None):
        super().__init__()
        self.permission = permission

    def __call__(self, request):
        if "Authorization" in request.headers:
            return None
        return super().__call__(request)

    def authenticate(self, request, key):
        return _checked(super().authenticate(request, key), self.permission)


def requires(permission):
    """`auth=` for an operation: signed in (else 401) and the role allows `permission` (else 403 with the reason)."""
    return [BearerToken(permission), SessionAuth(permission)]


class ErrorsOut(Schema):
    errors: dict[str, list[str]]


class DetailOut(Schema):
    detail: str
