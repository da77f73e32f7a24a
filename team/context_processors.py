"""What every page needs to know about the person asking."""

from .models import PERMISSIONS, allows, role_of


def permissions(request):
    """{"may": {permission: bool, ..., "role": Role}}: the templates show or hide controls with it (the views enforce it)."""
    user = getattr(request, "user", None)  # absent on answers made before the auth middleware ran
    return {"may": {name: allows(user, name) for name in PERMISSIONS} | {"role": role_of(user)}}
