"""A link whose gallery or board was deleted keeps its row and answers 410 "no longer available",
as a revoked one does, whether the deletion came from a page or from `manage.py archive --delete`."""

import io
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from sharing.models import Board, ShareLink, ShareOptions, create_link
from tests.factories import api_as, make_job, make_source, pages_as
from variations.models import Source


def share(target, user):
    return create_link(target, ShareOptions(allow_download=True), user)


def assert_gone(outsider, token, output):
    for url in (f"/s/{token}/", f"/s/{token}/download.zip", f"/s/{token}/media/outputs/{output.pk}/thumbnail"):
        answer = outsider.get(url)
        assert answer.status_code == 410, url
    assert "no longer available" in outsider.get(f"/s/{token}/").content.decode()


def test_a_board_deleted_by_hand_leaves_a_link_that_answers_410(member, outsider, completed_job):
    board = Board.objects.create(name="Picks", created_by=member)
    output = completed_job.outputs.first()
    board.add(output, member)
    link, token = share(board, member)
    assert outsider.get(f"/s/{token}/").status_code == 200
    pages_as(member).post(f"/boards/{board.pk}/delete")
    link.refresh_from_db()
    assert link.state == "gone" and link.board_id is None
    assert_gone(outsider, token, output)
    # The maker still finds the link on their pages and in the API, saying what happened.
    client = pages_as(member)
    assert "A deleted gallery or board" in client.get("/shares/").content.decode()
    assert "it was deleted" in client.get(f"/shares/{link.pk}/").content.decode()
    listed = api_as(member).get("/api/v1/shares").json()
    assert listed[0]["status"] == "gone" and listed[0]["target"]["type"] == "deleted"


def test_a_gallery_deleted_by_the_archive_command_leaves_a_link_that_answers_410(member, outsider):
    long_ago = timezone.now() - timedelta(days=365)
    job = make_job(make_source(member), member, outputs=1, created_at=long_ago)
    Source.objects.filter(pk=job.source_id).update(created_at=long_ago)
    output = job.outputs.get()
    link, token = share(job.source, member)
    call_command("archive", "--older-than", "90", "--delete", stdout=io.StringIO())
    assert not Source.objects.exists() and ShareLink.objects.get(pk=link.pk).state == "gone"
    assert_gone(outsider, token, output)
