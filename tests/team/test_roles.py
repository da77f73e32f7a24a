"""Roles: viewers browse and download, members run and delete their own work, admins do everything and manage people.

Every rule is checked on the pages and on the JSON API, since both must refuse, not only hide.
"""

import json
import os
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from variations.models import Output, Source, Status, Variation
from team.models import Invitation, Role, TeamMember, role_of
from team.views.account import FirstRun

from tests.factories import api_as, make_job, make_person, pages_as


# --- who has which role ------------------------------------------------------------------------------------

def test_roles_come_from_the_team_member_row_superusers_are_admins_and_the_default_is_member(db):
    User = get_user_model()
    plain = User.objects.create_user("plain", password="x-password-1")
    boss = User.objects.create_superuser("boss", password="x-password-1")
    watcher = make_person("watcher", Role.VIEWER)
    assert role_of(plain) == Role.MEMBER
    assert role_of(boss) == Role.ADMIN
    assert role_of(watcher) == Role.VIEWER
    watcher.is_active = False
    assert role_of(watcher) is None


# --- viewers -----------------------------------------------------------------------------------------------

def test_a_viewer_browses_and_downloads(viewer, completed_job):
    client = pages_as(viewer)
    output = completed_job.outputs.first()
    for url in ("/", "/jobs/", f"/sources/{completed_job.source_id}/", f"/outputs/{output.pk}/", "/boards/",
                f"/sources/{completed_job.source_id}/download.zip", f"/media/outputs/{output.pk}?download=1"):
        assert client.get(url).status_code == 200, url


def test_a_viewer_sees_no_controls_that_change_things(viewer, completed_job):
    client = pages_as(viewer)
    page = client.get(f"/sources/{completed_job.source_id}/").content.decode() + client.get("/").content.decode()
    for control in ("/run", "/rerun", "/vary", "/star", "/delete", "/shares/", "/boards/pick", "/sources/upload", "/people/"):
        assert control not in page, control


VIEWER_REFUSED_PAGES = [
    ("/sources/upload", {}),
    ("/sources/{source}/run", {"size": "512*512"}),
    ("/jobs/{job}/rerun", {"seed": "same"}),
    ("/jobs/{job}/cancel", {}),
    ("/jobs/{job}/retry", {}),
    ("/jobs/{job}/delete", {}),
    ("/sources/{source}/delete", {}),
    ("/outputs/{output}/vary", {}),
    ("/outputs/{output}/star", {"starred": "1"}),
    ("/shares/new", {"source": "{source}"}),
    ("/boards/new", {"name": "Mine"}),
]


@pytest.mark.parametrize("url, data", VIEWER_REFUSED_PAGES)
def test_a_viewer_cannot_change_anything_through_the_pages(viewer, completed_job, url, data):
    ids = {"source": completed_job.source_id, "job": completed_job.pk, "output": completed_job.outputs.first().pk}
    response = pages_as(viewer).post(url.format(**ids), {k: v.format(**ids) for k, v in data.items()})
    assert response.status_code == 403
    assert b"Viewer" in response.content
    assert Variation.objects.count() == 1 and Source.objects.count() == 1 and Output.objects.count() == 2
    assert not Output.objects.filter(starred=True).exists()
    assert not completed_job.source.share_links.exists()


def test_a_viewer_cannot_run_rerun_cancel_delete_or_share_through_the_api(viewer, completed_job, image_bytes):
    client = api_as(viewer)
    calls = [
        client.post("/api/v1/sources", {"image": _upload(image_bytes())}),
        client.post("/api/v1/variations", json.dumps({"source": str(completed_job.source_id)}), content_type="application/json"),
        client.post(f"/api/v1/variations/{completed_job.pk}/rerun"),
        client.post(f"/api/v1/variations/{completed_job.pk}/cancel"),
        client.delete(f"/api/v1/variations/{completed_job.pk}"),
        client.delete(f"/api/v1/sources/{completed_job.source_id}"),
        client.post("/api/v1/shares", json.dumps({"source": str(completed_job.source_id)}), content_type="application/json"),
        client.get("/api/v1/shares"),
    ]
    assert [c.status_code for c in calls] == [403] * len(calls)
    assert "viewer" in calls[0].json()["detail"].lower()
    assert Variation.objects.count() == 1 and Source.objects.count() == 1
    assert client.get(f"/api/v1/variations/{completed_job.pk}").status_code == 200  # reading is fine


def _upload(data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("x.jpg", data, content_type="image/jpeg")


# --- members -----------------------------------------------------------------------------------------------

def test_a_member_cannot_manage_people(member, colleague):
    client = pages_as(member)
    assert client.get("/people/").status_code == 403
    assert client.post("/people/invite", {"role": "admin", "days": 7}).status_code == 403
    assert client.post(f"/people/{colleague.pk}/role", {"role": "admin"}).status_code == 403
    assert client.post(f"/people/{colleague.pk}/active", {"active": "0"}).status_code == 403
    colleague.refresh_from_db()
    assert colleague.is_active and role_of(colleague) == Role.MEMBER
    assert not Invitation.objects.exists()
    assert "/people/" not in client.get("/").content.decode()


def test_a_member_deletes_own_jobs_but_not_a_colleagues(member, colleague, completed_job, django_capture_on_commit_callbacks):
    bobs_job = make_job(completed_job.source, colleague, outputs=1)
    client = pages_as(member)
    assert client.post(f"/jobs/{bobs_job.pk}/delete").status_code == 403
    assert Variation.objects.filter(pk=bobs_job.pk).exists()
    files = [completed_job.outputs.first().image.path]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/jobs/{completed_job.pk}/delete", {"next": "/jobs/"})
    assert response.status_code == 302 and response["Location"] == "/jobs/"
    assert not Variation.objects.filter(pk=completed_job.pk).exists()
    assert not any(os.path.exists(path) for path in files)


def test_a_member_deletes_an_own_source_only_while_every_job_on_it_is_theirs(member, colleague, completed_job):
    bobs_job = make_job(completed_job.source, colleague, outputs=1)
    assert pages_as(member).post(f"/sources/{completed_job.source_id}/delete").status_code == 403
    assert api_as(member).delete(f"/api/v1/sources/{completed_job.source_id}").status_code == 403
    bobs_job.delete()
    assert api_as(member).delete(f"/api/v1/sources/{completed_job.source_id}").status_code == 204
    assert not Source.objects.exists() and not Output.objects.exists()


def test_a_running_job_is_not_deleted(member, completed_job):
    running = make_job(completed_job.source, member, status=Status.PROCESSING)
    response = api_as(member).delete(f"/api/v1/variations/{running.pk}")
    assert response.status_code == 409
    assert pages_as(member).post(f"/sources/{completed_job.source_id}/delete").status_code == 302
    assert Source.objects.filter(pk=completed_job.source_id).exists()


def test_an_admin_deletes_anyones_work(admin, member, completed_job):
    assert api_as(admin).delete(f"/api/v1/variations/{completed_job.pk}").status_code == 204
    assert pages_as(admin).post(f"/sources/{completed_job.source_id}/delete").status_code == 302
    assert not Source.objects.exists()


def test_history_records_who_ran_each_job_and_filters_by_person(member, colleague, viewer, completed_job):
    make_job(completed_job.source, colleague, outputs=1)
    page = pages_as(viewer).get("/jobs/?person=bob").content.decode()
    assert page.count('class="job-row') == 1 or "bob" in page
    assert Variation.objects.filter(owner=colleague).count() == 1


# --- admins: people --------------------------------------------------------------------------------------

def test_an_admin_changes_roles_and_the_change_applies_at_once(admin, member, completed_job):
    client = pages_as(admin)
    assert client.get("/people/").status_code == 200
    assert client.post(f"/people/{member.pk}/role", {"role": "viewer"}).status_code == 302
    assert TeamMember.objects.get(user=member).role == Role.VIEWER
    assert api_as(member).post(f"/api/v1/variations/{completed_job.pk}/rerun").status_code == 403
    client.post(f"/people/{member.pk}/role", {"role": "admin"})
    assert pages_as(member).get("/people/").status_code == 200


def test_the_last_admin_cannot_be_demoted_or_deactivated(admin):
    client = pages_as(admin)
    client.post(f"/people/{admin.pk}/role", {"role": "member"})
    client.post(f"/people/{admin.pk}/active", {"active": "0"})
    admin.refresh_from_db()
    assert admin.is_active and role_of(admin) == Role.ADMIN


def test_demoting_a_superuser_takes_the_superuser_flag_too(admin):
    boss = get_user_model().objects.create_superuser("boss", password="boss-password-1")
    pages_as(admin).post(f"/people/{boss.pk}/role", {"role": "viewer"})
    boss.refresh_from_db()
    assert not boss.is_superuser and role_of(boss) == Role.VIEWER


def test_deactivating_someone_stops_their_session_and_tokens_at_once(admin, member):
    session, api = pages_as(member), api_as(member)
    assert session.get("/").status_code == 200 and api.get("/api/v1/variations").status_code == 200
    pages_as(admin).post(f"/people/{member.pk}/active", {"active": "0"})
    assert session.get("/").status_code == 302
    assert api.get("/api/v1/variations").status_code == 401
    pages_as(admin).post(f"/people/{member.pk}/active", {"active": "1"})
    assert api.get("/api/v1/variations").status_code == 200


# --- invitations -------------------------------------------------------------------------------------------

def invite(admin, role="viewer", days=7):
    response = pages_as(admin).post("/people/invite", {"role": role, "note": "Vera", "days": days})
    assert response.status_code == 200
    link = response.context["new_invitation"]["link"]
    return link.split("/invite/")[1].strip("/")


def test_an_invitation_makes_an_account_with_its_role_once(admin):
    token = invite(admin)
    invitation = Invitation.objects.get()
    assert token not in invitation.digest and len(invitation.digest) == 64  # only the hash is kept
    assert token not in pages_as(admin).get("/people/").content.decode()  # shown once only

    visitor = Client()
    assert visitor.get(f"/invite/{token}/").status_code == 200
    response = visitor.post(f"/invite/{token}/", {"username": "vera", "password1": "a-long-pass-phrase-7", "password2": "a-long-pass-phrase-7"})
    assert response.status_code == 302
    vera = get_user_model().objects.get(username="vera")
    assert role_of(vera) == Role.VIEWER
    assert visitor.get("/").status_code == 200  # signed in

    again = Client().post(f"/invite/{token}/", {"username": "mallory", "password1": "a-long-pass-phrase-7", "password2": "a-long-pass-phrase-7"})
    assert again.status_code == 410
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_an_expired_or_withdrawn_invitation_is_refused(admin):
    token = invite(admin)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(f"/invite/{token}/").status_code == 410
    second = invite(admin)
    pages_as(admin).post(f"/people/invitations/{Invitation.objects.first().pk}/revoke")
    assert Client().get(f"/invite/{second}/").status_code == 410
    assert Client().get("/invite/not-a-real-token-at-all/").status_code == 404


def test_an_invitation_refuses_a_weak_password_next_to_the_field(admin):
    token = invite(admin)
    response = Client().post(f"/invite/{token}/", {"username": "vera", "password1": "123", "password2": "123"})
    assert response.status_code == 200
    assert "password2" in response.context["form"].errors
    assert Invitation.objects.get().state == "open"


# --- first run ---------------------------------------------------------------------------------------------

@pytest.fixture
def first_run(db):
    before = FirstRun.has_users
    FirstRun.has_users = False
    yield
    FirstRun.has_users = before


@pytest.mark.parametrize("url", ["/", "/jobs/", "/accounts/login/", "/admin/", "/boards/"])
def test_without_any_user_every_page_leads_to_the_setup_page(first_run, client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == "/setup/"


def test_setup_creates_the_first_admin_and_then_is_gone(first_run, client):
    page = client.get("/setup/")
    assert page.status_code == 200 and b"first administrator" in page.content
    response = client.post("/setup/", {"username": "owner", "email": "", "password1": "correct-horse-battery-9", "password2": "correct-horse-battery-9"})
    assert response.status_code == 302
    owner = get_user_model().objects.get()
    assert owner.is_superuser and role_of(owner) == Role.ADMIN
    assert client.get("/people/").status_code == 200
    later = Client().post("/setup/", {"username": "intruder", "password1": "correct-horse-battery-9", "password2": "correct-horse-battery-9"})
    assert later.status_code == 302 and later["Location"] == "/accounts/login/"
    assert get_user_model().objects.count() == 1


def test_createsuperuser_still_works_and_makes_an_admin(first_run, client):
    from django.core.management import call_command

    call_command("createsuperuser", "--noinput", "--username", "root", "--email", "root@example.com")
    assert role_of(get_user_model().objects.get()) == Role.ADMIN
    assert client.get("/").status_code == 302 and client.get("/")["Location"].startswith("/accounts/login/")
