"""Share links: made on the pages and through the API, opened without an account, limited to exactly their
gallery or board, with expiry, revocation, password (throttled), download and parameter options."""

import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from sharing.models import Board
from sharing.models import ShareLink, ShareOptions, create_link, token_digest

from tests.factories import api_as, make_image, make_job, make_source, pages_as
from variations.services.sources import vary_output


def share(target, user, **options):
    return create_link(target, ShareOptions(**options), user)


@pytest.fixture
def colleagues_job(colleague):
    return make_job(make_source(colleague), colleague, outputs=1)


def media_urls(token, job):
    output = job.outputs.first()
    return {
        "source_thumbnail": f"/s/{token}/media/sources/{job.source_id}/thumbnail",
        "source": f"/s/{token}/media/sources/{job.source_id}",
        "output_thumbnail": f"/s/{token}/media/outputs/{output.pk}/thumbnail",
        "output": f"/s/{token}/media/outputs/{output.pk}",
        "zip": f"/s/{token}/download.zip",
    }


# --- making links ------------------------------------------------------------------------------------------

def test_a_member_makes_a_link_on_the_page_and_sees_it_with_a_qr_code(member, completed_job):
    client = pages_as(member)
    form = client.get(f"/shares/new?source={completed_job.source_id}")
    assert form.status_code == 200 and b"Never" in form.content
    response = client.post("/shares/new", {"source": completed_job.source_id, "expires": "30", "allow_download": "on"})
    link = ShareLink.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/shares/{link.pk}/"
    assert link.allow_download and not link.show_parameters and not link.has_password
    assert timedelta(days=29, hours=23) < link.expires_at - timezone.now() <= timedelta(days=30)
    detail = client.get(response["Location"]).content.decode()
    assert link.url(None) in detail and "<svg" in detail  # the link to copy, and its QR code


def test_the_token_is_long_random_and_only_its_hash_is_stored(member, completed_job):
    link, token = share(completed_job.source, member)
    other, other_token = share(completed_job.source, member)
    assert len(token) == 32 and token != other_token  # 32 base64url characters: 192 bits
    stored = [str(value) for value in ShareLink.objects.filter(pk=link.pk).values().get().values()]
    assert token not in " ".join(stored)
    assert link.digest == token_digest(token)
    assert link.token() == token  # derived again for the Shared links page


def test_api_makes_lists_and_revokes_links(member, completed_job, client):
    api = api_as(member)
    response = api.post("/api/v1/shares", json.dumps({"source": str(completed_job.source_id), "password": "open sesame", "allow_download": True}), content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert body["url"] == f"http://testserver/s/{body['token']}/"
    assert body["target"] == {"type": "source", "id": str(completed_job.source_id), "name": completed_job.source.title}
    assert body["has_password"] and body["allow_download"] and not body["show_parameters"] and "password" not in body
    assert body["expires_at"] and body["status"] == "active"

    never = api.post("/api/v1/shares", json.dumps({"source": str(completed_job.source_id), "expires_in_days": None}), content_type="application/json")
    assert never.status_code == 201 and never.json()["expires_at"] is None

    listed = api.get("/api/v1/shares").json()
    assert [item["id"] for item in listed] == [never.json()["id"], body["id"]]

    assert client.get(f"/s/{never.json()['token']}/").status_code == 200
    revoked = api.delete(f"/api/v1/shares/{never.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert client.get(f"/s/{never.json()['token']}/").status_code == 410


@pytest.mark.parametrize("payload, field", [
    ({}, "__all__"),
    ({"source": "SOURCE", "board": 1}, "__all__"),
    ({"source": "SOURCE", "expires_in_days": 0}, "expires_in_days"),
    ({"source": "SOURCE", "expires_in_days": 99999}, "expires_in_days"),
    ({"source": "SOURCE", "password": "abc"}, "password"),
    ({"source": "SOURCE", "color": "red"}, "color"),
])
def test_api_refuses_bad_share_requests_with_the_field(api, completed_job, payload, field):
    payload = {k: str(completed_job.source_id) if v == "SOURCE" else v for k, v in payload.items()}
    response = api.post("/api/v1/shares", json.dumps(payload), content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not ShareLink.objects.exists()


def test_api_unknown_target_is_404(api, db):
    response = api.post("/api/v1/shares", json.dumps({"board": 12345}), content_type="application/json")
    assert response.status_code == 404


def test_only_the_maker_or_an_admin_revokes_or_edits_a_link(member, colleague, admin, completed_job):
    link, token = share(completed_job.source, member)
    bob_api = api_as(colleague)
    # A member does not even see a colleague's links (tests/sharing/test_link_security.py).
    assert bob_api.delete(f"/api/v1/shares/{link.pk}").status_code == 404
    assert pages_as(colleague).post(f"/shares/{link.pk}/revoke").status_code == 404
    assert pages_as(colleague).post(f"/shares/{link.pk}/", {"expires": "never"}).status_code == 404
    link.refresh_from_db()
    assert link.is_active and link.expires_at is not None
    assert pages_as(admin).post(f"/shares/{link.pk}/revoke").status_code == 302
    assert Client().get(f"/s/{token}/").status_code == 410


# --- what a visitor sees -----------------------------------------------------------------------------------

def test_the_shared_gallery_is_read_only_with_share_scoped_images_and_blurred_nsfw(member, completed_job):
    link, token = share(completed_job.source, member)
    response = Client().get(f"/s/{token}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert response["Referrer-Policy"] == "same-origin" and "noindex" in response["X-Robots-Tag"]
    assert f"/s/{token}/media/outputs/" in page and f"/s/{token}/media/sources/{completed_job.source_id}/thumbnail" in page
    for studio_only in ('"/media/', "/rerun", "/vary", "/star", "/run", "/delete", "/shares/", "/boards/"):
        assert studio_only not in page, studio_only
    assert "tile-nsfw" in page and "data-reveal" in page
    assert str(completed_job.seed) not in page  # parameters hidden by default
    assert "download.zip" not in page and "?download=1" not in page  # no download buttons by default


def test_show_parameters_shows_the_chips(member, completed_job):
    _, token = share(completed_job.source, member, show_parameters=True)
    page = Client().get(f"/s/{token}/").content.decode()
    assert str(completed_job.seed) in page and "chip-seed" in page


def urls_in_main(page):
    """Every link, image and form target in the page's <main> (the top bar of a signed-in person is the studio's)."""
    main = page[page.index("<main"):page.index("</main>")]
    return re.findall(r'(?:href|src|action)="([^"#][^"]*)"', main)


@pytest.mark.parametrize("options", [{}, {"allow_download": True, "show_parameters": True}])
@pytest.mark.parametrize("opener", ["visitor", "maker"])
def test_share_pages_use_the_studios_tiles_with_only_the_links_own_urls_whoever_opens_them(member, completed_job, options, opener):
    starred, varied = completed_job.outputs.all()
    starred.starred = True
    starred.save()
    vary_output(varied, member)  # a lineage and a "used as a source" count, both the team's own business
    board = Board.objects.create(name="Client picks", created_by=member)
    board.add(starred, member)
    board.add(completed_job.source, member)
    client = Client() if opener == "visitor" else pages_as(member)
    for target in (completed_job.source, board):
        _, token = share(target, member, **options)
        page = client.get(f"/s/{token}/").content.decode()
        urls = urls_in_main(page)
        assert f"/s/{token}/media/outputs/{starred.pk}/thumbnail" in urls
        assert f"/s/{token}/media/sources/{completed_job.source_id}/thumbnail" in urls
        assert all(url.startswith((f"/s/{token}/", "/static/")) for url in urls), urls
        assert "tile-badge-star" not in page and "Used as a source" not in page and "Lineage" not in page
        downloads = [url for url in urls if url.endswith("?download=1")]
        assert bool(downloads) == bool(options), downloads
        assert (str(completed_job.seed) in page) == bool(options)
        if opener == "maker":  # the top bar stays the person's own
            assert 'href="/shares/"' in page and "alice (member)" in page


def test_without_download_only_thumbnails_are_served(outsider, member, completed_job):
    _, token = share(completed_job.source, member)
    urls = media_urls(token, completed_job)
    assert outsider.get(urls["source_thumbnail"]).status_code == 200
    assert outsider.get(urls["output_thumbnail"]).status_code == 200
    assert outsider.get(urls["source"]).status_code == 404
    assert outsider.get(urls["output"]).status_code == 404
    assert outsider.get(urls["zip"]).status_code == 404


def test_with_download_originals_and_zip_are_served_and_the_zip_hides_parameters_when_asked(outsider, member, completed_job):
    _, token = share(completed_job.source, member, allow_download=True)
    urls = media_urls(token, completed_job)
    original = outsider.get(urls["output"] + "?download=1")
    assert original.status_code == 200 and "attachment" in original["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(outsider.get(urls["zip"]).streaming_content)))
    names = archive.namelist()
    assert len([n for n in names if n.startswith("outputs/")]) == 2
    assert "parameters.json" not in names and "parameters.csv" not in names
    _, with_parameters = share(completed_job.source, member, allow_download=True, show_parameters=True)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(outsider.get(f"/s/{with_parameters}/download.zip").streaming_content)))
    assert "parameters.json" in archive.namelist()


def test_a_token_for_one_gallery_cannot_fetch_another_gallerys_images(outsider, member, completed_job, colleagues_job):
    _, token = share(completed_job.source, member, allow_download=True)
    for url in media_urls(token, colleagues_job).values():
        if "download.zip" in url:
            continue
        response = outsider.get(url)
        assert response.status_code == 404, url
    assert all(outsider.get(url).status_code == 200 for url in media_urls(token, completed_job).values())


def test_a_board_link_grants_exactly_the_boards_items(outsider, member, completed_job, colleagues_job):
    board = Board.objects.create(name="Client picks", created_by=member)
    chosen, not_chosen = completed_job.outputs.all()
    board.add(chosen, member)
    board.add(colleagues_job.source, member)
    _, token = share(board, member, allow_download=True)
    page = outsider.get(f"/s/{token}/").content.decode()
    assert "Client picks" in page and str(chosen.pk) in page and str(not_chosen.pk) not in page
    assert outsider.get(f"/s/{token}/media/outputs/{chosen.pk}").status_code == 200
    assert outsider.get(f"/s/{token}/media/sources/{colleagues_job.source_id}/thumbnail").status_code == 200
    assert outsider.get(f"/s/{token}/media/outputs/{not_chosen.pk}/thumbnail").status_code == 404
    assert outsider.get(f"/s/{token}/media/sources/{completed_job.source_id}/thumbnail").status_code == 404
    assert outsider.get(f"/s/{token}/media/outputs/{colleagues_job.outputs.get().pk}/thumbnail").status_code == 404
    zipped = zipfile.ZipFile(io.BytesIO(b"".join(outsider.get(f"/s/{token}/download.zip").streaming_content)))
    assert len(zipped.namelist()) == 2  # the board's zip: exactly its output and its source
    board.remove(chosen)
    assert outsider.get(f"/s/{token}/media/outputs/{chosen.pk}").status_code == 404


def test_a_share_token_opens_nothing_outside_its_own_urls(member, completed_job):
    _, token = share(completed_job.source, member)
    output = completed_job.outputs.first()
    for url in (f"/media/outputs/{output.pk}/thumbnail", f"/sources/{completed_job.source_id}/", "/api/v1/variations"):
        response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(url + f"?token={token}")
        assert response.status_code in (302, 401), url


# --- links that stop ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("stop", ["revoke", "expire"])
def test_a_revoked_or_expired_link_stops_at_once_with_a_friendly_page(outsider, member, completed_job, stop):
    link, token = share(completed_job.source, member, allow_download=True)
    urls = media_urls(token, completed_job)
    assert outsider.get(f"/s/{token}/").status_code == 200 and outsider.get(urls["output"]).status_code == 200
    if stop == "revoke":
        link.revoke()
    else:
        ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    page = outsider.get(f"/s/{token}/")
    assert page.status_code == 410
    assert b"turned off" in page.content or b"expired" in page.content
    assert all(outsider.get(url).status_code == 410 for url in urls.values())


def test_an_unknown_token_is_a_friendly_404(member, client):  # alice: past first-run setup
    response = client.get("/s/" + "A" * 32 + "/")
    assert response.status_code == 404 and b"This link does not work" in response.content
    assert b"Back to the library" not in response.content  # a visitor has no library; the studio's 404 offers it
    assert b"Back to the library" in client.get("/no-such-page/").content
    assert client.get("/s/short/media/sources/00000000-0000-0000-0000-000000000000").status_code == 404


def test_a_never_expiring_link_keeps_working(member, completed_job):
    link, token = share(completed_job.source, member, expires_in_days=None)
    ShareLink.objects.filter(pk=link.pk).update(created_at=timezone.now() - timedelta(days=4000))
    assert Client().get(f"/s/{token}/").status_code == 200


# --- passwords ---------------------------------------------------------------------------------------------

def test_a_password_link_asks_for_it_and_remembers_it_for_this_browser_only(member, completed_job):
    _, token = share(completed_job.source, member, password="blue-whale-42", allow_download=True)
    visitor, stranger = Client(), Client()
    asked = visitor.get(f"/s/{token}/")
    assert asked.status_code == 200 and b"needs a password" in asked.content and b"/media/" not in asked.content
    assert visitor.get(media_urls(token, completed_job)["output_thumbnail"]).status_code == 302
    assert visitor.post(f"/s/{token}/", {"password": "wrong-guess"}).status_code == 403
    assert visitor.post(f"/s/{token}/", {"password": "blue-whale-42"}).status_code == 302
    assert visitor.get(f"/s/{token}/").status_code == 200 and b"/media/outputs/" in visitor.get(f"/s/{token}/").content
    assert visitor.get(media_urls(token, completed_job)["output"]).status_code == 200
    assert stranger.get(media_urls(token, completed_job)["output"]).status_code == 302


def test_wrong_link_passwords_are_throttled_after_a_few_tries(outsider, member, completed_job):
    _, token = share(completed_job.source, member, password="blue-whale-42")
    codes = [outsider.post(f"/s/{token}/", {"password": f"guess-{n}"}).status_code for n in range(5)]
    assert codes == [403, 403, 403, 403, 429]
    locked = outsider.post(f"/s/{token}/", {"password": "blue-whale-42"})
    assert locked.status_code == 429 and b"Too many wrong passwords" in locked.content
    other_address = Client(REMOTE_ADDR="10.1.2.3")
    assert other_address.post(f"/s/{token}/", {"password": "blue-whale-42"}).status_code == 302


def test_a_new_password_locks_out_those_who_knew_the_old_one(outsider, member, completed_job):
    link, token = share(completed_job.source, member, password="blue-whale-42")
    outsider.post(f"/s/{token}/", {"password": "blue-whale-42"})
    assert b"needs a password" not in outsider.get(f"/s/{token}/").content
    pages_as(member).post(f"/shares/{link.pk}/", {"expires": "keep", "password": "red-panda-77"})
    assert b"needs a password" in outsider.get(f"/s/{token}/").content


# --- use and management ------------------------------------------------------------------------------------

def test_views_are_counted_and_shown_on_the_shared_links_page(member, completed_job):
    link, token = share(completed_job.source, member)
    for _ in range(3):
        Client().get(f"/s/{token}/")
    link.refresh_from_db()
    assert link.view_count == 3 and link.last_viewed_at is not None
    page = pages_as(member).get("/shares/").content.decode()
    assert f"http://testserver/s/{token}/" in page  # copy again
    assert ">3<" in page.replace("\n", "").replace(" ", "")


def test_editing_changes_options_and_can_keep_or_remove_the_password(member, completed_job):
    link, token = share(completed_job.source, member, password="blue-whale-42")
    client = pages_as(member)
    response = client.post(f"/shares/{link.pk}/", {"expires": "never", "allow_download": "on", "show_parameters": "on"})
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.expires_at is None and link.allow_download and link.show_parameters and link.has_password
    client.post(f"/shares/{link.pk}/", {"expires": "keep", "remove_password": "on"})
    link.refresh_from_db()
    assert not link.has_password and link.expires_at is None
    refused = client.post(f"/shares/{link.pk}/", {"expires": "keep", "password": "abc"})
    assert refused.status_code == 400 and "password" in refused.context["form"].errors


def test_a_link_can_be_shown_again_after_a_key_change_only_while_the_old_key_is_a_fallback(member, completed_job, settings):
    link, token = share(completed_job.source, member)
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-for-this-test-0123456789"
    settings.SECRET_KEY_FALLBACKS = [old]
    assert ShareLink.objects.get(pk=link.pk).token() == token
    settings.SECRET_KEY_FALLBACKS = []
    assert ShareLink.objects.get(pk=link.pk).token() is None
    assert Client().get(f"/s/{token}/").status_code == 200  # the link itself still works
    assert b"cannot be shown again" in pages_as(member).get("/shares/").content.lower()


def test_hidden_parameters_are_taken_out_of_downloaded_files_too(outsider, member, completed_job):
    from variations import images

    output = completed_job.outputs.first()
    with output.image.open("rb") as stored:
        assert images.read_parameters(stored.read())["seed"] == completed_job.seed
    _, hidden = share(completed_job.source, member, allow_download=True)
    _, shown = share(completed_job.source, member, allow_download=True, show_parameters=True)
    stripped = outsider.get(f"/s/{hidden}/media/outputs/{output.pk}?download=1").content
    assert images.read_parameters(stripped) is None and str(completed_job.seed).encode() not in stripped
    assert images.inspect(stripped).width == output.width  # still a whole image
    kept = outsider.get(f"/s/{shown}/media/outputs/{output.pk}").content
    assert images.read_parameters(kept)["seed"] == completed_job.seed
    archive = zipfile.ZipFile(io.BytesIO(b"".join(outsider.get(f"/s/{hidden}/download.zip").streaming_content)))
    for name in archive.namelist():
        if name.startswith("outputs/"):
            assert images.read_parameters(archive.read(name)) is None


def test_strip_parameters_handles_png_and_leaves_other_files_alone():
    from variations import images


    png = make_image("PNG", size=(300, 300))
    embedded = images.embed_parameters(png, "PNG", {"seed": 424242})
    assert images.read_parameters(embedded)["seed"] == 424242
    assert images.strip_parameters(embedded) == png
    assert images.strip_parameters(png) == png
    jpeg = make_image("JPEG", size=(300, 300))
    assert images.strip_parameters(images.embed_parameters(jpeg, "JPEG", {"seed": 1})) == jpeg
