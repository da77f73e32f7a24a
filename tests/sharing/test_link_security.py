"""What a share link lets out of the team, and for how long: links end with their maker's access
unless an admin hands them over, members see only their own links, a locked-out password page
answers without error, and the files a link serves carry no location or personal metadata."""

import io
import zipfile

import pytest
from django.test import Client
from PIL import ExifTags, Image

from sharing.models import Board, ShareLink, ShareOptions, create_link
from team.models import ApiToken
from tests.factories import make_job, pages_as
from variations import images
from variations.services import sources

pytestmark = pytest.mark.django_db


def share(target, person, **options):
    link, token = create_link(target, ShareOptions(**{"allow_download": True, **options}), person)
    return link, token


def deactivate(admin, person):
    assert pages_as(admin).post(f"/people/{person.pk}/active", {"active": "0"}).status_code == 302


# --- a deactivated person's links --------------------------------------------------------------------------------


def test_deactivating_a_person_ends_every_link_they_made(admin, member, completed_job, outsider):
    _, token = share(completed_job.source, member)
    output = completed_job.outputs.first()
    urls = [f"/s/{token}/", f"/s/{token}/download.zip", f"/s/{token}/media/sources/{completed_job.source_id}",
            f"/s/{token}/media/outputs/{output.pk}"]
    assert [outsider.get(url).status_code for url in urls] == [200] * 4

    deactivate(admin, member)

    for url in urls:
        gone = outsider.get(url)
        assert gone.status_code == 410, url
    assert b"no longer active" in outsider.get(urls[0]).content


def test_links_handed_to_someone_else_first_keep_working(admin, member, colleague, completed_job, outsider):
    link, token = share(completed_job.source, member)
    people_page = pages_as(admin).get("/people/").content.decode()
    assert f'action="/shares/hand-over/{member.pk}"' in people_page

    handed = pages_as(admin).post(f"/shares/hand-over/{member.pk}", {"to": colleague.pk})
    deactivate(admin, member)

    assert handed.status_code == 302
    assert ShareLink.objects.get(pk=link.pk).created_by == colleague
    assert outsider.get(f"/s/{token}/").status_code == 200


@pytest.mark.parametrize("heir", ["viewer", "inactive", "same", "nobody", "not-a-number", "99999999999999999999999"])
def test_links_are_handed_only_to_an_active_member_or_admin(admin, member, colleague, viewer, completed_job, heir):
    link, _ = share(completed_job.source, member)
    colleague.is_active = False
    colleague.save()
    to = {"viewer": viewer.pk, "inactive": colleague.pk, "same": member.pk, "nobody": ""}.get(heir, heir)

    answer = pages_as(admin).post(f"/shares/hand-over/{member.pk}", {"to": to})

    assert answer.status_code == 302
    assert ShareLink.objects.get(pk=link.pk).created_by == member


def test_only_admins_hand_links_over(member, colleague, completed_job):
    link, _ = share(completed_job.source, colleague)

    assert pages_as(member).post(f"/shares/hand-over/{colleague.pk}", {"to": member.pk}).status_code == 403
    assert ShareLink.objects.get(pk=link.pk).created_by == colleague


# --- who sees which links ----------------------------------------------------------------------------------------


def test_members_see_and_copy_only_their_own_links(admin, member, colleague, completed_job):
    mine, my_token = share(completed_job.source, member)
    theirs, their_token = share(completed_job.source, colleague)

    page = pages_as(member).get("/shares/").content.decode()
    assert my_token in page and their_token not in page
    assert pages_as(member).get(f"/shares/{theirs.pk}/").status_code == 404
    listed = Client(HTTP_AUTHORIZATION=f"Bearer {api_token(member)}").get("/api/v1/shares").json()
    assert [row["id"] for row in listed] == [mine.pk]

    everything = pages_as(admin).get("/shares/").content.decode()
    assert my_token in everything and their_token in everything


def api_token(person):
    return ApiToken.issue(person, "t")[1]


# --- a locked-out password page ----------------------------------------------------------------------------------


def test_a_password_page_locked_for_an_address_answers_429_to_get_and_post(member, completed_job):
    _, token = share(completed_job.source, member, password="blue-whale-42")
    visitor = Client()
    for n in range(5):
        visitor.post(f"/s/{token}/", {"password": f"wrong-{n}"})

    page = visitor.get(f"/s/{token}/")
    again = visitor.post(f"/s/{token}/", {"password": "blue-whale-42"})

    assert page.status_code == 429 and b"Too many wrong passwords" in page.content
    assert again.status_code == 429


# --- personal metadata stays in the team -------------------------------------------------------------------------


def photo_with_location(fmt="JPEG"):
    """A photo as a phone writes it: upright thanks to EXIF, with GPS, serial, owner and a maker note."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "Phone"
    exif[ExifTags.Base.Artist] = "Jane Owner"
    camera = exif.get_ifd(ExifTags.IFD.Exif)
    camera[ExifTags.Base.BodySerialNumber] = "SERIAL-123456"
    camera[ExifTags.Base.CameraOwnerName] = "Jane Owner"
    camera[ExifTags.Base.MakerNote] = b"MAKER-NOTE-SECRET"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps.update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>48,51.4N</exif:GPSLatitude></x:xmpmeta>'
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 120, 200)).save(out, fmt, exif=exif.tobytes(), xmp=xmp)
    return out.getvalue()


PERSONAL = [b"SERIAL-123456", b"Jane Owner", b"MAKER-NOTE-SECRET", b"GPSLatitude"]


def assert_clean(data):
    image = Image.open(io.BytesIO(data))
    image.load()
    exif = image.getexif()
    assert not exif.get_ifd(ExifTags.IFD.GPSInfo), "GPS left in the file"
    assert exif.get(ExifTags.Base.Orientation) == 6, "the orientation must stay, or the photo shows on its side"
    for secret in PERSONAL:
        assert secret not in data, secret


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_originals_through_a_link_carry_no_location_or_personal_metadata(member, fmt):
    original = photo_with_location(fmt)
    source = sources.store_source(original, user=member)[0]
    job = make_job(source, member, outputs=1)
    _, token = share(source, member)
    visitor = Client()

    shared = visitor.get(f"/s/{token}/media/sources/{source.pk}?download=1").content
    with source.image.open("rb") as kept:
        assert kept.read() == original, "the team's own original changed"
    assert_clean(shared)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(visitor.get(f"/s/{token}/download.zip").streaming_content)))
    assert_clean(archive.read(next(name for name in archive.namelist() if name.startswith("source"))))
    assert visitor.get(f"/s/{token}/media/outputs/{job.outputs.get().pk}").status_code == 200


def test_board_links_serve_clean_copies_and_keep_parameters_only_when_shown(member, completed_job):
    source = sources.store_source(photo_with_location(), user=member)[0]
    board = Board.objects.create(name="Trip", created_by=member)
    board.add(source, member)
    output = completed_job.outputs.first()
    board.add(output, member)
    _, hidden = share(board, member)
    _, shown = share(board, member, show_parameters=True)

    assert_clean(Client().get(f"/s/{hidden}/media/sources/{source.pk}").content)
    assert images.read_parameters(Client().get(f"/s/{hidden}/media/outputs/{output.pk}").content) is None
    assert images.read_parameters(Client().get(f"/s/{shown}/media/outputs/{output.pk}").content)["seed"] == completed_job.seed


def test_the_teams_own_downloads_stay_byte_identical(member, signed_in):
    original = photo_with_location()
    source = sources.store_source(original, user=member)[0]

    assert b"".join(signed_in.get(f"/media/sources/{source.pk}").streaming_content) == original


def test_stripping_at_upload_is_an_admin_setting(member, settings):
    settings.FLUXSITE_STRIP_METADATA_ON_UPLOAD = True

    source = sources.store_source(photo_with_location(), user=member)[0]

    with source.image.open("rb") as kept:
        assert_clean(kept.read())
