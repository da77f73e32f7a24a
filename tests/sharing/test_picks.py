"""Visitor picks on share links: a visitor without an account picks, comments and confirms under the
link's rules; the team sees who picked what (board tiles, the link's page, CSV), hides comments,
reopens selections, and varies the picks into a new board that gathers the new outputs."""

import json
from datetime import timedelta

import pytest
from django.templatetags.static import static
from django.utils import timezone

from sharing.models import Board, BoardItem, PickRules, PickVisitor, ShareLink, ShareOptions, create_link
from sharing.views import picks as pick_views
from tests.factories import add_output, api_as, make_job, make_source, pages_as
from variations.models import Status, Variation

KEY = "k" * 32


@pytest.fixture
def picking_board(member):
    """A board of four outputs, shared with picking on (at least 1, at most 3)."""
    board = Board.objects.create(name="Client picks", created_by=member)
    outputs = list(make_job(make_source(member), member, outputs=4).outputs.all())
    board.add_many(outputs, member)
    link, token = create_link(board, ShareOptions(), member)
    PickRules.objects.create(link=link, min_picks=1, max_picks=3)
    return link, token, outputs


def pick(client, token, output, key=KEY, **fields):
    body = {"name": "Carla", "output": str(output.pk), **fields}
    return client.post(f"/s/{token}/picks", json.dumps(body), content_type="application/json", HTTP_X_PICK_KEY=key)


def confirm(client, token, key=KEY):
    return client.post(f"/s/{token}/picks/confirm", "{}", content_type="application/json", HTTP_X_PICK_KEY=key)


def test_a_visitor_picks_comments_and_confirms(outsider, picking_board):
    link, token, outputs = picking_board
    page = outsider.get(f"/s/{token}/").content.decode()
    assert "Confirm my selection" in page and f'data-pick-output="{outputs[0].pk}"' in page and static("js/picks.js") in page
    assert confirm(outsider, token).status_code == 400  # nothing picked yet: who is this?
    pick(outsider, token, outputs[0], picked=True)
    state = pick(outsider, token, outputs[1], picked=True, comment="  <b>this one</b>, warmer please  ").json()
    assert state["picks"][str(outputs[1].pk)] == {"picked": True, "comment": "<b>this one</b>, warmer please"}
    assert state["name"] == "Carla" and not state["confirmed"]
    assert outsider.get(f"/s/{token}/picks", HTTP_X_PICK_KEY=KEY).json()["picks"].keys() == state["picks"].keys()
    assert confirm(outsider, token).json()["confirmed"] is True
    locked = pick(outsider, token, outputs[2], picked=True)
    assert locked.status_code == 409 and "confirmed" in locked.json()["detail"]
    visitor = PickVisitor.objects.get()
    assert visitor.key_digest != KEY and len(visitor.key_digest) == 64  # only the key's hash is kept


def test_the_links_rules_hold(outsider, picking_board):
    link, token, outputs = picking_board
    for output in outputs[:3]:
        pick(outsider, token, output, picked=True)
    over = pick(outsider, token, outputs[3], picked=True)
    assert over.status_code == 409 and "at most 3" in over.json()["detail"]
    assert pick(outsider, token, outputs[0], comment="x" * 501).status_code == 400
    other = make_job(make_source(link.created_by), link.created_by, outputs=1).outputs.get()
    assert pick(outsider, token, other, picked=True).status_code == 400  # not on this board
    assert pick(outsider, token, outputs[0], key="short").status_code == 400
    PickRules.objects.filter(link=link).update(deadline=timezone.now() - timedelta(minutes=1))
    assert pick(outsider, token, outputs[0], picked=False).status_code == 409  # past the deadline
    PickRules.objects.filter(link=link).update(deadline=None, open=False)
    assert pick(outsider, token, outputs[0], picked=False).status_code == 409  # turned off
    link.revoke()
    assert pick(outsider, token, outputs[0], picked=False).status_code == 410  # picks end with the link


def test_at_least_n_before_confirming_and_no_picking_where_not_asked(outsider, picking_board, member):
    link, token, outputs = picking_board
    PickRules.objects.filter(link=link).update(min_picks=2)
    pick(outsider, token, outputs[0], picked=True)
    assert "at least 2" in confirm(outsider, token).json()["detail"]
    _, plain_token = create_link(link.board, ShareOptions(), member)
    assert pick(outsider, plain_token, outputs[0], picked=True).status_code == 403
    assert "Confirm my selection" not in outsider.get(f"/s/{plain_token}/").content.decode()


def test_visitors_and_links_are_rate_limited(outsider, picking_board, monkeypatch):
    link, token, outputs = picking_board
    monkeypatch.setattr(pick_views.PER_VISITOR, "limit", 3)
    answers = [pick(outsider, token, outputs[0], comment=str(n)).status_code for n in range(4)]
    assert answers == [200, 200, 200, 429]
    assert pick(outsider, token, outputs[0], key="m" * 32, comment="other visitor").status_code == 200
    monkeypatch.setattr(pick_views.PER_LINK, "limit", 4)
    assert pick(outsider, token, outputs[0], key="n" * 32, comment="third").status_code == 429


def test_the_team_sees_picks_on_the_board_the_link_page_the_csv_and_the_nav(outsider, picking_board, member, colleague):
    link, token, outputs = picking_board
    pick(outsider, token, outputs[0], picked=True, comment="<script>alert(1)</script> love it")
    pick(outsider, token, outputs[1], key="m" * 32, name="Dan", picked=True)
    client = pages_as(member)
    board_page = client.get(f"/boards/{link.board_id}/").content.decode()
    assert "★ Carla" in board_page and "★ Dan" in board_page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; love it" in board_page and "<script>alert(1)" not in board_page
    assert 'class="nav-count"' in client.get("/boards/").content.decode()  # news for the link's maker
    assert 'class="nav-count"' not in pages_as(colleague).get("/boards/").content.decode()
    link_page = client.get(f"/shares/{link.pk}/").content.decode()
    assert "Carla" in link_page and "Dan" in link_page and "love it" in link_page and "Vary the picks" in link_page
    assert 'class="nav-count"' not in client.get("/boards/").content.decode()  # seen now
    rows = client.get(f"/shares/{link.pk}/picks.csv").content.decode().splitlines()
    assert rows[0].startswith("visitor,confirmed_at,output") and len(rows) == 3
    assert any(row.startswith("Carla,") and "love it" in row for row in rows)


def test_the_maker_hides_a_comment_reopens_a_selection_and_sets_the_rules(outsider, picking_board, member, colleague):
    link, token, outputs = picking_board
    pick(outsider, token, outputs[0], picked=True, comment="too dark")
    confirm(outsider, token)
    client = pages_as(member)
    the_pick = PickVisitor.objects.get().picks.get()
    assert pages_as(colleague).post(f"/shares/{link.pk}/picks/{the_pick.pk}/hide").status_code == 404  # not their link
    client.post(f"/shares/{link.pk}/picks/{the_pick.pk}/hide")
    assert "too dark" not in client.get(f"/boards/{link.board_id}/").content.decode()
    client.post(f"/shares/{link.pk}/visitors/{the_pick.visitor_id}/reopen")
    assert pick(outsider, token, outputs[1], picked=True).status_code == 200
    client.post(f"/shares/{link.pk}/picking", {"min_picks": "2", "max_picks": "1", "open": "on"})
    assert PickRules.objects.get(link=link).min_picks == 1  # refused: at least more than at most
    client.post(f"/shares/{link.pk}/picking", {"max_picks": "5", "deadline": "2030-01-31"})
    rules = PickRules.objects.get(link=link)
    assert not rules.open and rules.max_picks == 5 and rules.deadline.date().isoformat() == "2030-01-31"


def test_vary_the_picks_starts_jobs_and_a_new_board_gathers_their_outputs(outsider, picking_board, member, settings):
    link, token, outputs = picking_board
    link.allow_download = True
    link.save(update_fields=["allow_download"])
    pick(outsider, token, outputs[0], picked=True)
    pick(outsider, token, outputs[2], key="m" * 32, name="Dan", picked=True)
    pick(outsider, token, outputs[3], key="m" * 32, name="Dan", comment="only a comment")
    client = pages_as(member)
    answer = client.post(f"/shares/{link.pk}/vary-picks", {"preset": "subtle", "share": "on"})
    board = Board.objects.exclude(pk=link.board_id).get()
    assert answer["Location"] == f"/boards/{board.pk}/"
    jobs = Variation.objects.filter(source__derived_from__in=[outputs[0].pk, outputs[2].pk])
    assert jobs.count() == 2 and all(job.guidance_scale == 6.0 for job in jobs)
    assert "2 jobs still running" in client.get(f"/boards/{board.pk}/").content.decode()
    for job in jobs:  # the dispatcher finishes them
        Variation.objects.filter(pk=job.pk).update(status=Status.COMPLETED)
        add_output(job, 0)
    page = client.get(f"/boards/{board.pk}/").content.decode()
    assert "still running" not in page and BoardItem.objects.filter(board=board).count() == 2
    shared = ShareLink.objects.get(board=board)  # on the same terms
    assert shared.allow_download and shared.pick_rules.max_picks == 3 and shared.expires_at == link.expires_at
    assert client.post(f"/shares/{link.pk}/vary-picks", {"preset": "wild"}).status_code == 302
    assert Board.objects.count() == 2  # an unknown preset starts nothing and leaves no board


def test_a_board_link_is_made_with_let_visitors_pick(member, outsider):
    board = Board.objects.create(name="Client picks", created_by=member)
    client = pages_as(member)
    assert "let_visitors_pick" in client.get(f"/shares/new?board={board.pk}").content.decode()
    client.post("/shares/new", {"board": board.pk, "expires": "30", "let_visitors_pick": "on"})
    client.post("/shares/new", {"board": board.pk, "expires": "30"})
    with_picks, without = ShareLink.objects.order_by("created_at")
    assert with_picks.pick_rules.accepting() and not PickRules.objects.filter(link=without).exists()


def test_the_board_offers_vary_the_picks_to_the_links_maker(outsider, picking_board, member, colleague, viewer):
    link, token, outputs = picking_board
    assert "Vary the picks" not in pages_as(member).get(f"/boards/{link.board_id}/").content.decode()  # nothing picked yet
    pick(outsider, token, outputs[1], picked=True)
    page = pages_as(member).get(f"/boards/{link.board_id}/").content.decode()
    assert "★ 1 picked" in page and f'action="/shares/{link.pk}/vary-picks"' in page
    for other in (colleague, viewer):
        assert "Vary the picks" not in pages_as(other).get(f"/boards/{link.board_id}/").content.decode()


def test_gallery_tiles_show_how_often_visitors_picked_an_output(outsider, picking_board, member):
    link, token, outputs = picking_board
    pick(outsider, token, outputs[1], picked=True)
    pick(outsider, token, outputs[1], key="m" * 32, name="Dan", picked=True)
    pick(outsider, token, outputs[2], key="m" * 32, name="Dan", comment="just a comment")
    gallery = pages_as(member).get(f"/sources/{outputs[0].variation.source_id}/").content.decode()
    assert gallery.count("tile-badge-pick") == 1 and "★ 2" in gallery
    assert "tile-badge-pick" not in outsider.get(f"/s/{token}/").content.decode()  # the team's mark, not the visitor's


def test_a_gallery_link_asks_for_picks_too(member, outsider, completed_job):
    link, token = create_link(completed_job.source, ShareOptions(), member)
    assert "Confirm my selection" not in outsider.get(f"/s/{token}/").content.decode()
    PickRules.objects.create(link=link)
    page = outsider.get(f"/s/{token}/").content.decode()
    output = completed_job.outputs.first()
    assert "Confirm my selection" in page and f'data-pick-output="{output.pk}"' in page
    assert pick(outsider, token, output, picked=True).json()["picks"][str(output.pk)]["picked"] is True
    other = make_job(make_source(member), member, outputs=1).outputs.get()
    assert pick(outsider, token, other, picked=True).status_code == 400  # another gallery's output


def test_a_next_round_board_fills_through_its_share_link(outsider, picking_board, member):
    link, token, outputs = picking_board
    pick(outsider, token, outputs[0], picked=True)
    pages_as(member).post(f"/shares/{link.pk}/vary-picks", {"preset": "strong", "share": "on"})
    board = Board.objects.exclude(pk=link.board_id).get()
    job = Variation.objects.get(source__derived_from=outputs[0])
    Variation.objects.filter(pk=job.pk).update(status=Status.COMPLETED)
    new_output = add_output(job, 0)
    _, new_token = create_link(board, ShareOptions(), member)
    assert str(new_output.pk) in outsider.get(f"/s/{new_token}/").content.decode()  # a visitor's visit takes it in


def test_a_next_round_board_fills_through_the_api(outsider, picking_board, member):
    link, token, outputs = picking_board
    pick(outsider, token, outputs[0], picked=True)
    pages_as(member).post(f"/shares/{link.pk}/vary-picks", {"preset": "strong"})
    board = Board.objects.exclude(pk=link.board_id).get()
    job = Variation.objects.get(source__derived_from=outputs[0])
    Variation.objects.filter(pk=job.pk).update(status=Status.COMPLETED)
    new_output = add_output(job, 0)
    listed = api_as(member).get(f"/api/v1/boards/{board.pk}").json()
    assert [item["target"] for item in listed["items"]] == [str(new_output.pk)]


def test_the_shared_links_page_says_which_link_has_new_picks(outsider, picking_board, member, django_assert_max_num_queries):
    link, token, outputs = picking_board
    pick(outsider, token, outputs[0], picked=True)
    pick(outsider, token, outputs[1], comment="and this?")
    client = pages_as(member)
    with django_assert_max_num_queries(12):
        page = client.get("/shares/").content.decode()
    assert "★ 1 picked · 2 new" in page
    client.get(f"/shares/{link.pk}/")
    assert "★ 1 picked</span>" in client.get("/shares/").content.decode()
