from django.contrib.auth import views as auth_views
from django.urls import path

from .views import account, people

urlpatterns = [
    path("accounts/login/", account.ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("setup/", account.setup, name="setup"),
    path("invite/<str:token>/", account.accept_invitation, name="accept-invitation"),
    path("account/tokens/", account.tokens, name="tokens"),
    path("account/tokens/<int:token_id>/revoke", account.revoke_token, name="token-revoke"),
    path("account/sign-out-everywhere", account.sign_out_everywhere, name="sign-out-everywhere"),
    path("people/", people.people, name="people"),
    path("people/invite", people.invite, name="people-invite"),
    path("people/invitations/<int:invitation_id>/revoke", people.revoke_invitation, name="invitation-revoke"),
    path("people/<int:user_id>/role", people.change_role, name="people-role"),
    path("people/<int:user_id>/active", people.set_active, name="people-active"),
]
