"""Accounts: the first-run setup, sign-in with throttling, accepting an invitation, personal API tokens."""

import logging

from django.contrib import messages
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.contrib.auth.views import LoginView
from django.db import connection, transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from .. import throttle
from ..access import browse_required
from ..forms import AccountForm, TokenForm
from ..models import ApiToken, Invitation, Role, TeamMember

log = logging.getLogger(__name__)


# --- first run ---------------------------------------------------------------------------------------------

class FirstRun:
    """Remembers, per process, that the instance has people; until then every page leads to /setup/."""

    has_users = False

    @classmethod
    def check(cls):
        if not cls.has_users:
            cls.has_users = get_user_model().objects.exists()
        return cls.has_users


# Paths that work before the first admin exists: the setup page itself, static files, and the
# machine endpoints that answer 401 on their own (API, media, webhooks).
FIRST_RUN_OPEN = ("/setup/", "/static/", "/api/", "/media/", "/webhooks/")


class FirstRunMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(FIRST_RUN_OPEN) and not FirstRun.check():
            return redirect("setup")
        return self.get_response(request)


@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def setup(request):
    """Create the first administrator. Once anyone exists this page is gone (there is no default password)."""
    if FirstRun.check():
        return redirect("login")
    form = AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            users = get_user_model().objects
            if connection.vendor == "postgresql":  # SQLite's IMMEDIATE transactions already serialize this
                connection.cursor().execute(f"LOCK TABLE {get_user_model()._meta.db_table} IN EXCLUSIVE MODE")
            if users.exists():
                return redirect("login")
            user = form.save(commit=False)
            user.is_staff = user.is_superuser = True
            user.save()
            TeamMember.objects.create(user=user, role=Role.ADMIN)
        FirstRun.has_users = True
        login(request, user)
        log.info("first administrator %s created", user.get_username())
        messages.success(request, "Welcome! You are the administrator. Invite your team from the People page.")
        return redirect("library")
    return render(request, "team/setup.html", {"form": form})


# --- sign-in -----------------------------------------------------------------------------------------------

@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class ThrottledLoginView(LoginView):
    """Django's sign-in, saying so when the throttle (team.throttle, which counts every failure) has
    locked a username at this address."""

    redirect_authenticated_user = True

    def locked(self):
        return throttle.LOGIN.blocked(*throttle.login_key(self.request, self.request.POST.get("username", "")))

    def post(self, request, *args, **kwargs):
        if self.locked():
            return self.too_many()
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        if self.locked():
            return self.too_many()
        return super().form_invalid(form)

    def too_many(self):
        form = self.get_form_class()(self.request, initial={"username": self.request.POST.get("username", "")})
        message = f"Too many failed sign-ins. Wait {throttle.LOGIN.minutes} minutes and try again."
        return self.render_to_response(self.get_context_data(form=form, locked_out=message), status=429)


# --- invitations -------------------------------------------------------------------------------------------

def invitation_gone(request, invitation):
    state = invitation.state if invitation else "unknown"
    texts = {
        "used": "This invitation was used already. Sign in, or ask for a new one.",
        "revoked": "This invitation was withdrawn. Ask the person who sent it for a new one.",
        "expired": "This invitation has expired. Ask the person who sent it for a new one.",
        "unknown": "This invitation link is not valid. Check that it was copied whole.",
    }
    status = 404 if invitation is None else 410
    context = {"code": status, "title": "This invitation does not work", "text": texts[state]}
    return render(request, "sharing/link_gone.html", context, status=status)


@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def accept_invitation(request, token):
    invitation = Invitation.find(token)
    if invitation is None or invitation.state != "open":
        return invitation_gone(request, invitation)
    form = AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            if not invitation.claim(user):
                transaction.set_rollback(True)
                invitation.refresh_from_db()
                return invitation_gone(request, invitation)
            TeamMember.objects.create(user=user, role=invitation.role)
        login(request, user)
        log.info("invitation %s accepted by %s as %s", invitation.pk, user.get_username(), invitation.role)
        messages.success(request, f"Welcome to the team, {user.get_username()}.")
        return redirect("library")
    return render(request, "team/accept_invitation.html", {"form": form, "invitation": invitation})


# --- personal API tokens -----------------------------------------------------------------------------------

@never_cache
@browse_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    """The person's API tokens. A new token is shown in this one answer only: it is stored as a hash."""
    form = TokenForm(request.POST or None)
    new_token = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            row, new_token = ApiToken.issue(request.user, form.cleaned_data["name"])
            log.info("API token %s (%s) made by %s", row.pk, row.prefix, request.user.get_username())
            form = TokenForm()
        else:
            status = 400
    return render(request, "team/tokens.html", {
        "nav": "tokens",
        "form": form,
        "new_token": new_token,
        "tokens": request.user.api_tokens.order_by("-created_at"),
    }, status=status)


@never_cache
@browse_required
@sensitive_post_parameters("password")
@require_POST
def sign_out_everywhere(request):
    """End every session of this person, this one too. Sessions carry a hash of the password hash, so
    storing the same password anew (a fresh salt) makes every session fail its check at the next
    request, whatever session store is used. Asking for the password first (through the sign-in
    throttle) keeps a stolen session from using this to lock the owner out."""
    user = request.user
    password = request.POST.get("password", "")
    if authenticate(request, username=user.get_username(), password=password) is None:
        messages.error(request, "That password is not right: nobody was signed out.")
        return redirect("tokens")
    user.set_password(password)
    user.save(update_fields=["password"])
    logout(request)
    log.info("%s signed out everywhere", user.get_username())
    messages.success(request, "You are signed out everywhere, here too. Your API tokens still work: revoke them one by one.")
    return redirect("login")


@browse_required
@require_POST
def revoke_token(request, token_id):
    row = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    row.delete()
    messages.success(request, f"Token “{row.name}” ({row.prefix}…) revoked: it no longer works.")
    return redirect(reverse("tokens"))
