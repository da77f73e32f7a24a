"""A board's own zip (its page, and its share link when downloads are allowed), the cover chosen on the
page, and the larger preview that "thumbnails only" links open instead of the original."""

import io
import json
import zipfile

from django.core.files.storage import default_storage
from PIL import Image

from sharing.models import Board, ShareOptions, create_link
from sharing.previews import preview_name
from tests.factories import make_job, make_source, pages_as
from variations.services.sources import delete_source


def board_of(member, outputs=3):
    board = Board.objects.create(name="Picks", created_by=member)
    job = make_job(make_source(member), member, outputs=outputs)
    board.add_many([job.source, *job.outputs.all()], member)
    return board, job


def unzip(answer):
    return zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content)))


def test_the_board_page_offers_its_zip_to_anyone_who_may_download(member, viewer):
    board, job = board_of(member)
    page = pages_as(viewer).get(f"/boards/{board.pk}/").content.decode()
    assert f"/boards/{board.pk}/download.zip" in page
    archive = unzip(pages_as(viewer).get(f"/boards/{board.pk}/download.zip"))
    assert sum(name.startswith("outputs/") for name in archive.namelist()) == 3
    summary = json.loads(archive.read("parameters.json"))
    assert summary["sources"][0]["sha256"] == job.source.sha256 and len(summary["outputs"]) == 3


def test_a_board_link_has_its_zip_only_when_downloads_are_allowed(member, outsider):
    board, job = board_of(member)
    _, open_token = create_link(board, ShareOptions(allow_download=True), member)
    _, closed_token = create_link(board, ShareOptions(), member)
    page = outsider.get(f"/s/{open_token}/").content.decode()
    assert f"/s/{open_token}/download.zip" in page and job.source.title in page
    archive = unzip(outsider.get(f"/s/{open_token}/download.zip"))
    assert sum(name.startswith("outputs/") for name in archive.namelist()) == 3
    assert "parameters.json" not in archive.namelist()  # the link hides parameters
    assert "download.zip" not in outsider.get(f"/s/{closed_token}/").content.decode()
    assert outsider.get(f"/s/{closed_token}/download.zip").status_code == 404


def test_a_thumbnails_only_link_opens_a_larger_preview_never_the_original(member, outsider, settings, django_capture_on_commit_callbacks):
    settings.FLUXSITE_SHARE_PREVIEW_PX = 600
    board, job = board_of(member, outputs=1)
    output = job.outputs.get()
    _, token = create_link(board, ShareOptions(), member)
    preview_url = f"/s/{token}/media/outputs/{output.pk}/preview"
    assert preview_url in outsider.get(f"/s/{token}/").content.decode()  # the tile opens it
    assert outsider.get(f"/s/{token}/media/outputs/{output.pk}").status_code == 404  # not the original
    answer = outsider.get(preview_url)
    assert answer.status_code == 200 and answer["Content-Type"] == "image/webp"
    image = Image.open(io.BytesIO(b"".join(answer.streaming_content)))
    assert image.format == "WEBP" and max(image.size) == 600 and not image.getexif()
    assert default_storage.exists(preview_name(output))  # made once, kept
    assert outsider.get(f"/s/{token}/media/sources/{job.source_id}/preview").status_code == 200
    other = make_job(make_source(member), member, outputs=1).outputs.get()
    assert outsider.get(f"/s/{token}/media/outputs/{other.pk}/preview").status_code == 404  # not on the board
    with django_capture_on_commit_callbacks(execute=True):
        delete_source(job.source)
    assert not default_storage.exists(preview_name(output))  # previews go with their images


def test_a_member_chooses_the_cover_on_the_board_page(member, viewer):
    board, job = board_of(member)
    last = list(board.items.all())[-1]
    client = pages_as(member)
    assert client.post(f"/boards/{board.pk}/cover", {"item": last.pk}).status_code == 302
    assert Board.objects.get(pk=board.pk).cover == last
    assert client.post(f"/boards/{board.pk}/cover", {"item": "x"}).status_code == 404
    client.post(f"/boards/{board.pk}/cover", {})
    assert Board.objects.get(pk=board.pk).cover == board.items.first()
    assert pages_as(viewer).post(f"/boards/{board.pk}/cover", {"item": last.pk}).status_code == 403
    listed = client.get("/boards/").content.decode()
    assert f"/media/sources/{job.source_id}/thumbnail" in listed  # the first item, a source, is the cover
