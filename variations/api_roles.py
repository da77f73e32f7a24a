"""The API's side of the role table: an operation decorator that answers 403 when the caller's role says no."""

from functools import wraps

from ninja.errors import HttpError

from .team import allows, role_of


def requires(permission):
    """The caller's role must allow `permission` (variations.team.PERMISSIONS), else 403 with the reason."""

    def decorator(operation):
        @wraps(operation)
        def checked(request, *args, **kwargs):
            if not allows(request.user, permission):
                role = role_of(request.user)
                raise HttpError(403, f"Your role ({role.label if role else 'none'}) may not do this.")
            return operation(request, *args, **kwargs)

        return checked

    return decorator
