"""Boards: named collections of sources and outputs, kept from the library and gallery pages."""


from sharing.models import Board, BoardItem

from tests.factories import make_job, make_source, pages_as


def test_a_member_creates_renames_and_deletes_a_board(member):
    client = pages_as(member)
    response = client.post("/boards/new", {"name": "  Client picks  "})
    board = Board.objects.get()
    assert response["Location"] == f"/boards/{board.pk}/" and board.name == "Client picks" and board.created_by == member
    client.post(f"/boards/{board.pk}/rename", {"name": "Final picks"})
    board.refresh_from_db()
    assert board.name == "Final picks"
    assert "Final picks" in client.get("/boards/").content.decode()
    client.post(f"/boards/{board.pk}/delete")
    assert not Board.objects.exists()


def test_a_board_needs_a_name(member):
    client = pages_as(member)
    client.post("/boards/new", {"name": "   "})
    assert not Board.objects.exists()


def test_sources_and_outputs_are_added_from_the_picker_once_and_removed(member, completed_job):
    client = pages_as(member)
    output = completed_job.outputs.first()
    back = f"/sources/{completed_job.source_id}/"
    picker = client.get(f"/boards/pick?output={output.pk}&next={back}")
    assert picker.status_code == 200 and f'href="{back}"' in picker.content.decode()
    # A new board straight from the picker, with the output on it.
    client.post("/boards/new", {"name": "Picks", "output": output.pk, "next": f"/boards/pick?output={output.pk}"})
    board = Board.objects.get()
    assert list(board.items.values_list("output_id", flat=True)) == [output.pk]
    for _ in range(2):
        client.post(f"/boards/{board.pk}/items", {"action": "add", "source": completed_job.source_id})
    assert board.items.count() == 2
    assert "On it" in client.get(f"/boards/pick?source={completed_job.source_id}").content.decode()
    client.post(f"/boards/{board.pk}/items", {"action": "remove", "output": output.pk})
    assert list(board.items.values_list("source_id", flat=True)) == [completed_job.source_id]


def test_library_and_gallery_offer_add_to_board(member, completed_job):
    client = pages_as(member)
    assert f"/boards/pick?source={completed_job.source_id}" in client.get("/").content.decode()
    gallery = client.get(f"/sources/{completed_job.source_id}/").content.decode()
    assert f"/boards/pick?source={completed_job.source_id}" in gallery
    menu = gallery.split('<template id="tile-menu"')[1]  # copied into each output tile by static/js/studio.js
    assert "/boards/pick?output=00000000-0000-0000-0000-000000000000" in menu.split("</template>")[0]


def test_the_board_page_shows_sources_and_outputs_in_the_gallery_layout(member, viewer, completed_job, django_assert_max_num_queries):
    board = Board.objects.create(name="Picks", created_by=member)
    board.add(completed_job.source, member)
    for output in completed_job.outputs.all():
        board.add(output, member)
    for _ in range(5):
        board.add(make_job(make_source(member), member, outputs=1).outputs.get(), member)
    client = pages_as(viewer)
    with django_assert_max_num_queries(12):
        page = client.get(f"/boards/{board.pk}/").content.decode()
    assert 'class="gallery-layout"' in page and "Picks" in page
    assert page.count('class="tile') >= 8 and "tile-nsfw" in page
    assert "Remove from board" not in page and "/rename" not in page  # a viewer only looks


def test_unknown_or_malformed_items_are_404(member):
    board = Board.objects.create(name="Picks", created_by=member)
    client = pages_as(member)
    assert client.post(f"/boards/{board.pk}/items", {"source": "not-a-uuid"}).status_code == 404
    assert client.post(f"/boards/{board.pk}/items", {}).status_code == 404
    assert client.get("/boards/pick").status_code == 404
    assert client.get("/boards/999/").status_code == 404


def test_a_member_deletes_only_own_boards_an_admin_any(member, colleague, admin):
    board = Board.objects.create(name="Alice's", created_by=member)
    assert pages_as(colleague).post(f"/boards/{board.pk}/delete").status_code == 403
    assert pages_as(colleague).post(f"/boards/{board.pk}/rename", {"name": "Bob's now"}).status_code == 302  # boards are shared work
    assert pages_as(admin).post(f"/boards/{board.pk}/delete").status_code == 302
    assert not Board.objects.exists()


def test_a_viewer_cannot_change_boards(viewer, member, completed_job):
    board = Board.objects.create(name="Picks", created_by=member)
    client = pages_as(viewer)
    assert client.post("/boards/new", {"name": "Mine"}).status_code == 403
    assert client.post(f"/boards/{board.pk}/items", {"source": completed_job.source_id}).status_code == 403
    assert client.post(f"/boards/{board.pk}/rename", {"name": "x"}).status_code == 403
    assert client.get(f"/boards/pick?source={completed_job.source_id}").status_code == 403
    assert Board.objects.count() == 1 and not BoardItem.objects.exists()


def test_deleting_a_source_takes_it_off_boards(member, completed_job, django_capture_on_commit_callbacks):
    board = Board.objects.create(name="Picks", created_by=member)
    board.add(completed_job.source, member)
    board.add(completed_job.outputs.first(), member)
    with django_capture_on_commit_callbacks(execute=True):
        pages_as(member).post(f"/sources/{completed_job.source_id}/delete")
    assert not board.items.exists()
