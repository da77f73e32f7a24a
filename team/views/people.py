"""The People page (admins): who is in the team, their roles, invitations, and deactivation."""

import logging

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from ..access import require
from ..forms import InviteForm, RoleForm
from ..models import DEFAULT_ROLE, ROLE_HELP, Invitation, Role, TeamMember, is_last_admin, role_of, set_role

log = logging.getLogger(__name__)
manage_required = require("manage")


def people_page(request, invite_form=None, new_invitation=None, status=200):
    people = get_user_model().objects.order_by("-is_active", "username").annotate(job_count=Count("variations"))
    stored = dict(TeamMember.objects.values_list("user_id", "role"))
    for person in people:
        person.role = Role.ADMIN if person.is_superuser else Role(stored.get(person.pk, DEFAULT_ROLE))
    return render(request, "team/people.html", {
        "nav": "people",
        "people": people,
        # Who may take over someone's share links (sharing.views.shares.hand_over): active members and admins.
        "heirs": [person for person in people if person.is_active and person.role != Role.VIEWER],
        "roles": Role.choices,
        "role_help": ROLE_HELP,
        "invite_form": invite_form or InviteForm(),
        "invitations": Invitation.objects.select_related("created_by", "used_by")[:50],
        "new_invitation": new_invitation,
    }, status=status)


@never_cache
@manage_required
@require_GET
def people(request):
    return people_page(request)


@never_cache
@manage_required
@require_POST
def invite(request):
    """An invitation link for one person; shown in this answer only (only its hash is kept)."""
    form = InviteForm(request.POST)
    if not form.is_valid():
        return people_page(request, invite_form=form, status=400)
    invitation, token = Invitation.issue(request.user, form.cleaned_data["role"], form.cleaned_data["note"], form.cleaned_data["days"])
    log.info("invitation %s (%s) made by %s", invitation.pk, invitation.role, request.user.get_username())
    link = request.build_absolute_uri(f"/invite/{token}/")
    return people_page(request, new_invitation={"invitation": invitation, "link": link})


@manage_required
@require_POST
def revoke_invitation(request, invitation_id):
    invitation = get_object_or_404(Invitation, pk=invitation_id)
    if Invitation.objects.filter(pk=invitation.pk, used_at__isnull=True, revoked_at__isnull=True).update(revoked_at=timezone.now()):
        messages.success(request, "Invitation withdrawn: its link no longer works.")
    else:
        messages.info(request, f"That invitation is {invitation.state} already.")
    return redirect("people")


@manage_required
@require_POST
def change_role(request, user_id):
    person = get_object_or_404(get_user_model(), pk=user_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose admin, member or viewer.")
        return redirect("people")
    role = Role(form.cleaned_data["role"])
    if role != Role.ADMIN and role_of(person) == Role.ADMIN and is_last_admin(person):
        messages.error(request, "The team needs at least one admin: make someone else admin first.")
        return redirect("people")
    set_role(person, role)
    log.info("%s made %s %s", request.user.get_username(), person.get_username(), role)
    messages.success(request, f"{person.get_username()} is now {role.label.lower()}.")
    return redirect("people")


@manage_required
@require_POST
def set_active(request, user_id):
    """Deactivate (sessions and API tokens stop at once) or reactivate a person."""
    person = get_object_or_404(get_user_model(), pk=user_id)
    active = request.POST.get("active") == "1"
    if not active and role_of(person) == Role.ADMIN and is_last_admin(person):
        messages.error(request, "The team needs at least one active admin.")
        return redirect("people")
    person.is_active = active
    person.save(update_fields=["is_active"])
    log.info("%s %s %s", request.user.get_username(), "reactivated" if active else "deactivated", person.get_username())
    messages.success(request, f"{person.get_username()} is {'active again' if active else 'deactivated: their sessions, tokens and share links stop working now'}.")
    return redirect("people")
