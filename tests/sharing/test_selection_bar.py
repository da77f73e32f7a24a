"""The selection bar (includes/selection_bar.html + static/js/select.js) is on the team's pages whose tiles
can be selected, offers only what the person's role allows, and never shows on a share page."""

from django.templatetags.static import static

from sharing.models import Board, ShareOptions, create_link
from tests.factories import pages_as


def test_library_gallery_and_board_tiles_can_be_selected(member, completed_job):
    client = pages_as(member)
    board = Board.objects.create(name="Picks", created_by=member)
    output = completed_job.outputs.first()
    board.add_many([completed_job.source, output], member)
    library = client.get("/").content.decode()
    assert f'data-select-kind="source" data-select-id="{completed_job.source_id}"' in library
    gallery = client.get(f"/sources/{completed_job.source_id}/").content.decode()
    assert f'data-select-kind="output" data-select-id="{output.pk}"' in gallery
    board_page = client.get(f"/boards/{board.pk}/").content.decode()
    assert board_page.count("data-select-kind=") == 2
    for page in (library, gallery, board_page):
        assert 'id="selection-bar"' in page and static("js/select.js") in page
    for action in ("zip", "star", "share", "delete"):
        assert f'data-selection-action="{action}"' in library


def test_a_viewer_gets_only_zip(viewer, completed_job):
    library = pages_as(viewer).get("/").content.decode()
    assert 'data-selection-action="zip"' in library
    for action in ("star", "share", "delete"):
        assert f'data-selection-action="{action}"' not in library
    assert "data-selection-board" not in library


def test_share_pages_have_nothing_to_select(member, outsider, completed_job):
    board = Board.objects.create(name="Picks", created_by=member)
    board.add_many([completed_job.source, *completed_job.outputs.all()], member)
    _, token = create_link(board, ShareOptions(allow_download=True), member)
    for client in (outsider, pages_as(member)):  # a teammate sees what a visitor sees
        page = client.get(f"/s/{token}/").content.decode()
        assert "data-select-kind" not in page


def test_members_reorder_a_board_by_drag_or_keys_viewers_do_not(member, viewer, completed_job):
    board = Board.objects.create(name="Picks", created_by=member)
    board.add_many(list(completed_job.outputs.all()), member)
    page = pages_as(member).get(f"/boards/{board.pk}/").content.decode()
    assert f'data-reorder-url="/api/v1/boards/{board.pk}/items/order"' in page and static("js/board.js") in page
    assert page.count('data-move="-1"') == 2
    page = pages_as(viewer).get(f"/boards/{board.pk}/").content.decode()
    assert "data-reorder-url" not in page and static("js/board.js") not in page


def test_job_history_outputs_can_be_selected(member, completed_job):
    history = pages_as(member).get("/jobs/").content.decode()
    for output in completed_job.outputs.all():
        assert f'data-select-kind="output" data-select-id="{output.pk}"' in history
    assert 'id="selection-bar"' in history
