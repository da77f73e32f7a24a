"""Visitor picks through the JSON API: a link's picks, its picking rules and "Vary the picks", by role."""

import json

import pytest

from sharing.models import Board, PickRules, ShareOptions, create_link
from tests.factories import api_as, make_job, make_source
from tests.sharing.test_picks import pick
from variations.models import Variation


@pytest.fixture
def picked_link(member, outsider):
    board = Board.objects.create(name="Client picks", created_by=member)
    outputs = list(make_job(make_source(member), member, outputs=2).outputs.all())
    board.add_many(outputs, member)
    link, token = create_link(board, ShareOptions(), member)
    PickRules.objects.create(link=link)
    pick(outsider, token, outputs[0], picked=True, comment="<i>yes</i>")
    return link, outputs


def put(client, url, body):
    return client.put(url, json.dumps(body), content_type="application/json")


def test_the_maker_reads_the_picks_sets_the_rules_and_varies_them(member, picked_link):
    link, outputs = picked_link
    client = api_as(member)
    picks = client.get(f"/api/v1/shares/{link.pk}/picks").json()
    assert picks["rules"]["accepting"] and picks["visitors"][0]["name"] == "Carla"
    assert picks["visitors"][0]["picks"] == [{**picks["visitors"][0]["picks"][0], "output": str(outputs[0].pk), "picked": True, "comment": "<i>yes</i>"}]
    rules = put(client, f"/api/v1/shares/{link.pk}/picking", {"open": False, "max_picks": 3, "deadline": "2030-01-31T18:00:00Z"})
    assert rules.json()["open"] is False and rules.json()["max_picks"] == 3
    assert put(client, f"/api/v1/shares/{link.pk}/picking", {"min_picks": 4, "max_picks": 3}).status_code == 409
    assert put(client, f"/api/v1/shares/{link.pk}/picking", {"open": 1}).status_code == 400
    answer = client.post(f"/api/v1/shares/{link.pk}/vary-picks", json.dumps({"preset": "subtle", "share": True}), content_type="application/json")
    assert answer.status_code == 201
    body = answer.json()
    assert Variation.objects.get(pk=body["jobs"][0]).source.derived_from == outputs[0]
    assert Board.objects.get(pk=body["board"]).share_links.get().pk == body["share"]


def test_others_read_or_change_nothing_of_a_members_link(colleague, viewer, admin, picked_link):
    link, _ = picked_link
    assert api_as(colleague).get(f"/api/v1/shares/{link.pk}/picks").status_code == 404  # members see their own links
    assert api_as(viewer).get(f"/api/v1/shares/{link.pk}/picks").status_code == 403
    assert put(api_as(viewer), f"/api/v1/shares/{link.pk}/picking", {"open": False}).status_code == 403
    assert api_as(admin).get(f"/api/v1/shares/{link.pk}/picks").status_code == 200
    assert put(api_as(admin), f"/api/v1/shares/{link.pk}/picking", {"open": False}).status_code == 200


def test_nothing_picked_is_409_and_starts_nothing(member):
    board = Board.objects.create(name="Empty", created_by=member)
    link, _ = create_link(board, ShareOptions(), member)
    answer = api_as(member).post(f"/api/v1/shares/{link.pk}/vary-picks", json.dumps({"preset": "strong"}), content_type="application/json")
    assert answer.status_code == 409 and Board.objects.count() == 1 and not Variation.objects.exists()


def test_picking_numbers_are_numbers(member, picked_link):
    link, _ = picked_link
    client = api_as(member)
    assert put(client, f"/api/v1/shares/{link.pk}/picking", {"max_picks": 3.0}).json()["max_picks"] == 3
    for wrong in ("3", True, 2.5):
        assert put(client, f"/api/v1/shares/{link.pk}/picking", {"max_picks": wrong}).status_code == 400
