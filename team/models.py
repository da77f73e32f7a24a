"""The team: each person's role, invitations, and the one table of what each role may do.

Pages (team.access) and the JSON API (team.api_auth) both ask `allows()`, and each kind of item
answers "may this person delete you?" through `may_delete_work_of()`, so a rule changes here and
everywhere at once.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


ROLE_HELP = {
    Role.ADMIN: "Everything, and manages people and every shared link.",
    Role.MEMBER: "Uploads, runs, re-runs, shares, keeps boards, deletes their own work.",
    Role.VIEWER: "Browses and downloads; changes nothing.",
}

# A person without a TeamMember row (made by `createuser`, the shell or the Django admin) is a member:
# accounts come from an admin, and member is what such an account could do before roles existed.
DEFAULT_ROLE = Role.MEMBER

# Who may do what. Deleting is per object as well: each item answers deletable_by().
PERMISSIONS = {
    "browse": {Role.ADMIN, Role.MEMBER, Role.VIEWER},  # library, galleries, boards, jobs, outputs
    "download": {Role.ADMIN, Role.MEMBER, Role.VIEWER},  # originals and zips
    "run": {Role.ADMIN, Role.MEMBER},  # upload, run, re-run, cancel, retry, vary, star
    "curate": {Role.ADMIN, Role.MEMBER},  # boards: create, rename, add and remove items
    "share": {Role.ADMIN, Role.MEMBER},  # make share links, see and copy the team's links
    "delete": {Role.ADMIN, Role.MEMBER},  # their own work (admins: anything)
    "manage": {Role.ADMIN},  # people, roles, invitations, anyone's links and boards
}


class TeamMember(models.Model):
    """A person's role in the team. Superusers are admins whatever this row says."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_member")
    role = models.CharField(max_length=10, choices=Role.choices, default=DEFAULT_ROLE)

    def __str__(self):
        return f"{self.user} ({self.role})"


def role_of(user):
    """The person's role, or None for someone signed out or deactivated. Kept on the user object for the request."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    if not hasattr(user, "_fluxsite_role"):
        row = TeamMember.objects.filter(user_id=user.pk).values_list("role", flat=True).first()
        user._fluxsite_role = Role(row) if row else DEFAULT_ROLE
    return user._fluxsite_role


def allows(user, permission):
    return role_of(user) in PERMISSIONS[permission]


def set_role(user, role):
    """Give a person a role. Demoting a superuser also takes away the superuser flag, so the role is what they get."""
    TeamMember.objects.update_or_create(user=user, defaults={"role": role})
    if role != Role.ADMIN and (user.is_superuser or user.is_staff):
        user.is_superuser = user.is_staff = False
        user.save(update_fields=["is_superuser", "is_staff"])
    user.__dict__.pop("_fluxsite_role", None)


def active_admins():
    users = get_user_model().objects.filter(is_active=True)
    return users.filter(models.Q(is_superuser=True) | models.Q(team_member__role=Role.ADMIN))


def is_last_admin(user):
    """Would taking admin away from this person leave the team without one?"""
    return not active_admins().exclude(pk=user.pk).exists()


def may_delete_work_of(user, owner_id):
    """May this person delete something `owner_id` made? Members delete their own work only, admins anything."""
    if not allows(user, "delete"):
        return False
    return allows(user, "manage") or owner_id == user.pk


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


class Invitation(models.Model):
    """An invitation link: single use, expires, and only its hash is kept (the link is shown once)."""

    digest = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=DEFAULT_ROLE)
    note = models.CharField(max_length=200, blank=True, help_text="Who it is for, to tell invitations apart")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    DEFAULT_DAYS = 7

    class Meta:
        ordering = ["-created_at"]

    @classmethod
    def issue(cls, created_by, role, note="", days=DEFAULT_DAYS):
        """Make an invitation; returns (Invitation, the token), and the token is not stored anywhere."""
        token = secrets.token_urlsafe(32)
        invitation = cls.objects.create(
            digest=digest(token), role=role, note=note, created_by=created_by,
            expires_at=timezone.now() + timedelta(days=days),
        )
        return invitation, token

    @classmethod
    def find(cls, token):
        return cls.objects.filter(digest=digest(token)).first() if token else None

    @property
    def state(self):
        if self.used_at:
            return "used"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "open"

    def claim(self, user):
        """Mark the invitation used by `user`; False if someone used, revoked or outran it first."""
        now = timezone.now()
        claimed = Invitation.objects.filter(
            pk=self.pk, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        ).update(used_at=now, used_by=user)
        return bool(claimed)


class ApiToken(models.Model):
    """A personal API token. Only its hash is kept: the token is shown once, when made."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8)  # first characters, so a person can tell tokens apart
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    PREFIX = "fxs_"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user, name):
        """Make a token; returns (ApiToken, the token text, which is not stored anywhere)."""
        token = cls.PREFIX + secrets.token_urlsafe(32)
        row = cls.objects.create(user=user, name=name, prefix=token[:8], digest=digest(token))
        return row, token

    @classmethod
    def user_for(cls, token):
        row = cls.objects.select_related("user").filter(digest=digest(token)).first()
        if row is None or not row.user.is_active:
            return None
        if row.last_used_at is None or timezone.now() - row.last_used_at > timedelta(minutes=1):
            cls.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
        return row.user


class ThrottleCount(models.Model):
    """Failed attempts under one throttle key (team.throttle). In the database, so every web process and
    host counts together without a shared cache."""

    key = models.CharField(max_length=64, unique=True)  # a hash: no usernames or addresses in the table
    failures = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)  # indexed: expired rows are swept on every failure
