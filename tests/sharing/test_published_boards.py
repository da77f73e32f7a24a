"""A board with a live share link publishes whatever is put on it: only its owner and admins add to it
then (docs/team-and-sharing.md says why), on the pages and through the API."""

import json

import pytest

from sharing.models import Board, ShareOptions, create_link
from tests.factories import api_as, make_source, pages_as

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(member):
    board = Board.objects.create(name="Client picks", created_by=member)
    link, _ = create_link(board, ShareOptions(), member)
    return board, link


def add_on_page(person, board, source):
    return pages_as(person).post(f"/boards/{board.pk}/items", {"action": "add", "source": str(source.pk)})


def add_through_api(person, board, source):
    return api_as(person).post(f"/api/v1/boards/{board.pk}/items", json.dumps({"sources": [str(source.pk)]}), content_type="application/json")


@pytest.mark.parametrize("add", [add_on_page, add_through_api])
def test_a_colleague_cannot_add_to_a_board_a_live_link_publishes(published, colleague, add):
    board, _ = published
    source = make_source(colleague)

    answer = add(colleague, board, source)

    assert answer.status_code == 403
    assert not board.items.exists()


@pytest.mark.parametrize("add", [add_on_page, add_through_api])
@pytest.mark.parametrize("who", ["member", "admin"])
def test_the_owner_and_admins_add_to_a_published_board(published, request, who, add):
    board, _ = published
    person = request.getfixturevalue(who)

    assert add(person, board, make_source(person)).status_code in (200, 302)
    assert board.items.count() == 1


@pytest.mark.parametrize("end", ["revoke", "expire", "deactivate"])
def test_once_no_link_is_live_colleagues_add_again(published, colleague, end):
    board, link = published
    if end == "revoke":
        link.revoke()
    elif end == "expire":
        link.expires_at = "2020-01-01T00:00:00Z"
        link.save()
    else:
        link.created_by.is_active = False
        link.created_by.save()

    assert add_on_page(colleague, board, make_source(colleague)).status_code == 302
    assert board.items.count() == 1
