"""Boards through the JSON API (/api/v1/boards), for every role: list with covers and counts, create,
rename, cover, items added many at once, removed, reordered, zipped, and delete."""

import io
import json
import zipfile

import pytest

from sharing.models import Board
from tests.factories import api_as, make_job, make_source

BOARDS = "/api/v1/boards"


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def outputs(member):
    """Five outputs of the member's, in two jobs."""
    return [*make_job(make_source(member), member, outputs=3).outputs.all(), *make_job(make_source(member), member, outputs=2).outputs.all()]


def test_a_member_makes_a_board_and_fills_it_with_many_items_at_once(member, outputs, source):
    client = api_as(member)
    made = post(client, BOARDS, {"name": "  Client picks "})
    assert made.status_code == 201 and made.json()["name"] == "Client picks" and made.json()["cover"] is None
    board_id = made.json()["id"]
    ids = [str(output.pk) for output in outputs]
    added = post(client, f"{BOARDS}/{board_id}/items", {"outputs": ids[:3], "sources": [str(source.pk)]})
    assert added.status_code == 200 and added.json()["added"] == 4
    again = post(client, f"{BOARDS}/{board_id}/items", {"outputs": ids})  # three already on it: only two are new
    body = again.json()
    assert body["added"] == 2 and body["board"]["item_count"] == 6
    assert [item["target"] for item in body["board"]["items"]] == [str(source.pk), *ids]  # sources first, then in the order given
    assert body["board"]["cover"]["target"] == str(source.pk)
    assert body["board"]["items"][1]["thumbnail_url"].endswith(f"/media/outputs/{ids[0]}/thumbnail")


def test_unknown_ids_add_nothing_and_name_what_is_missing(member, outputs):
    board = Board.objects.create(name="Picks", created_by=member)
    missing = "00000000-0000-4000-8000-000000000000"
    answer = post(api_as(member), f"{BOARDS}/{board.pk}/items", {"outputs": [str(outputs[0].pk), missing]})
    assert answer.status_code == 404 and missing in answer.json()["detail"]
    assert not board.items.exists()
    assert post(api_as(member), f"{BOARDS}/{board.pk}/items", {}).json()["added"] == 0  # an empty selection
    assert post(api_as(member), f"{BOARDS}/999/items", {"outputs": [str(outputs[0].pk)]}).status_code == 404


def test_items_are_removed_reordered_and_the_cover_chosen(member, outputs):
    board = Board.objects.create(name="Picks", created_by=member)
    board.add_many(outputs, member)
    client = api_as(member)
    items = [item.pk for item in board.items.all()]
    reordered = client.put(f"{BOARDS}/{board.pk}/items/order", json.dumps({"items": [items[3], items[1]]}), content_type="application/json")
    assert [item["id"] for item in reordered.json()["items"]] == [items[3], items[1], items[0], items[2], items[4]]
    assert reordered.json()["cover"]["id"] == items[3]  # the first item, until one is chosen
    chosen = client.patch(f"{BOARDS}/{board.pk}", json.dumps({"cover": items[4], "name": "Round 2"}), content_type="application/json")
    assert chosen.json()["cover"]["id"] == items[4] and chosen.json()["name"] == "Round 2"
    assert client.patch(f"{BOARDS}/{board.pk}", json.dumps({"cover": 999999}), content_type="application/json").status_code == 404
    removed = post(client, f"{BOARDS}/{board.pk}/items/remove", {"outputs": [str(outputs[4].pk), str(outputs[0].pk)]})
    assert removed.json() == {"removed": 2}
    after = client.get(f"{BOARDS}/{board.pk}").json()
    assert after["item_count"] == 3 and after["cover"]["id"] == items[3]  # the chosen cover left: the first again
    listed = client.get(BOARDS).json()
    assert listed[0]["id"] == board.pk and listed[0]["item_count"] == 3


def test_the_boards_list_reads_covers_in_a_fixed_number_of_queries(member, django_assert_max_num_queries):
    for n in range(6):
        board = Board.objects.create(name=f"Board {n}", created_by=member)
        board.add_many([make_source(member)], member)
    client = api_as(member)
    with django_assert_max_num_queries(8):
        listed = client.get(BOARDS).json()
    assert len(listed) == 6 and all(entry["cover"]["type"] == "source" for entry in listed)


def test_a_boards_zip_holds_its_images_and_their_parameters(member, viewer, outputs, source):
    board = Board.objects.create(name="Picks", created_by=member)
    board.add_many([source, *outputs], member)
    answer = api_as(viewer).get(f"{BOARDS}/{board.pk}/zip")
    assert answer.status_code == 200 and answer["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content)))
    names = archive.namelist()
    assert sum(name.startswith("outputs/") for name in names) == 5 and "parameters.csv" in names
    summary = json.loads(archive.read("parameters.json"))
    assert summary["sources"][0]["sha256"] == source.sha256 and len(summary["outputs"]) == 5


@pytest.mark.parametrize("role, expected", [
    ("admin", {"list": 200, "create": 201, "add": 200, "rename": 200, "order": 200, "zip": 200, "delete": 204}),
    ("member", {"list": 200, "create": 201, "add": 200, "rename": 200, "order": 200, "zip": 200, "delete": 204}),
    ("colleague", {"list": 200, "create": 201, "add": 200, "rename": 200, "order": 200, "zip": 200, "delete": 403}),
    ("viewer", {"list": 200, "create": 403, "add": 403, "rename": 403, "order": 403, "zip": 200, "delete": 403}),
])
def test_every_role_on_the_member_s_board(request, role, expected, member, outputs):
    """Curating needs the curate permission (admins and members, on any board); deleting a board, its
    maker or an admin; viewers look and download."""
    board = Board.objects.create(name="Alice's", created_by=member)
    board.add(outputs[0], member)
    client = api_as(request.getfixturevalue(role))
    got = {
        "list": client.get(BOARDS).status_code,
        "create": post(client, BOARDS, {"name": "Mine"}).status_code,
        "add": post(client, f"{BOARDS}/{board.pk}/items", {"outputs": [str(outputs[1].pk)]}).status_code,
        "rename": client.patch(f"{BOARDS}/{board.pk}", json.dumps({"name": "New"}), content_type="application/json").status_code,
        "order": client.put(f"{BOARDS}/{board.pk}/items/order", json.dumps({"items": []}), content_type="application/json").status_code,
        "zip": client.get(f"{BOARDS}/{board.pk}/zip").status_code,
        "delete": client.delete(f"{BOARDS}/{board.pk}").status_code,
    }
    assert got == expected
    assert Board.objects.filter(pk=board.pk).exists() == (expected["delete"] != 204)


def test_a_visitor_without_an_account_gets_401_everywhere(outsider, member):
    board = Board.objects.create(name="Alice's", created_by=member)
    assert outsider.get(BOARDS).status_code == 401
    assert outsider.get(f"{BOARDS}/{board.pk}/zip").status_code == 401
    assert outsider.delete(f"{BOARDS}/{board.pk}").status_code == 401
    assert Board.objects.filter(pk=board.pk).exists()


def test_item_ids_are_numbers_as_the_schema_says(member, outputs):
    board = Board.objects.create(name="Picks", created_by=member)
    board.add_many(outputs[:2], member)
    first, second = board.items.all()
    client = api_as(member)

    def patch(body):
        return client.patch(f"{BOARDS}/{board.pk}", json.dumps(body), content_type="application/json")

    assert patch({"cover": float(second.pk)}).json()["cover"]["id"] == second.pk  # 2.0 is the integer 2
    assert patch({"cover": True}).status_code == 400 and patch({"cover": str(first.pk)}).status_code == 400
    order = client.put(f"{BOARDS}/{board.pk}/items/order", json.dumps({"items": [str(second.pk)]}), content_type="application/json")
    assert order.status_code == 400
