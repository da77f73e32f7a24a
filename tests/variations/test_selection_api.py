"""Bulk actions in the JSON API (/api/v1/selection/...): star, delete and zip many at once, for every role."""

import io
import json
import zipfile

import pytest

from tests.factories import api_as, make_job, make_source
from variations.models import Output, Source

SELECTION = "/api/v1/selection"


def post(client, action, body):
    return client.post(f"{SELECTION}/{action}", json.dumps(body), content_type="application/json")


def ids(things):
    return [str(thing.pk) for thing in things]


@pytest.fixture
def mine(member):
    return list(make_job(make_source(member), member, outputs=3).outputs.all())


@pytest.fixture
def theirs(colleague):
    return list(make_job(make_source(colleague), colleague, outputs=2).outputs.all())


def test_many_outputs_are_starred_and_unstarred_at_once(member, mine, theirs):
    client = api_as(member)
    assert post(client, "star", {"outputs": ids(mine + theirs)}).json() == {"count": 5}
    assert Output.objects.filter(starred=True).count() == 5
    assert post(client, "star", {"outputs": ids(mine[:2]), "starred": False}).json() == {"count": 2}
    assert set(Output.objects.filter(starred=True)) == {mine[2], *theirs}


def test_a_member_deletes_own_outputs_and_sources_but_nothing_when_one_is_a_colleagues(member, mine, theirs):
    client = api_as(member)
    refused = post(client, "delete", {"outputs": ids(mine + theirs[:1])})
    assert refused.status_code == 403 and "1 of the 4" in refused.json()["detail"]
    assert Output.objects.count() == 5  # all or nothing
    own_source = mine[0].variation.source
    assert post(client, "delete", {"outputs": ids(mine[:2])}).json() == {"deleted": 2, "kept_running": 0}
    assert set(Output.objects.all()) == {mine[2], *theirs}
    assert post(client, "delete", {"sources": ids([own_source]), "outputs": ids(mine[2:])}).json()["deleted"] == 2
    assert not Source.objects.filter(pk=own_source.pk).exists()


def test_an_admin_deletes_anyones_and_a_viewer_nobodys(admin, viewer, mine, theirs):
    assert post(api_as(viewer), "delete", {"outputs": ids(mine)}).status_code == 403
    assert post(api_as(viewer), "star", {"outputs": ids(mine)}).status_code == 403
    assert post(api_as(admin), "delete", {"outputs": ids(mine + theirs)}).json() == {"deleted": 5, "kept_running": 0}
    assert not Output.objects.exists()


def test_the_selections_zip_holds_the_images_and_their_parameters(viewer, mine, theirs):
    source = theirs[0].variation.source
    answer = post(api_as(viewer), "zip", {"outputs": ids(mine[:2] + theirs[:1]), "sources": ids([source])})
    assert answer.status_code == 200 and answer["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content)))
    assert sum(name.startswith("outputs/") for name in archive.namelist()) == 3
    summary = json.loads(archive.read("parameters.json"))
    assert [entry["sha256"] for entry in summary["sources"]] == [source.sha256]
    assert {row["source_sha256"] for row in summary["outputs"]} == {mine[0].variation.source.sha256, source.sha256}
    assert archive.read("parameters.csv").decode().count("\n") == 4  # a header and three rows


def test_selections_are_checked_before_anything_is_done(member, outsider, mine):
    client = api_as(member)
    assert post(client, "star", {}).json() == {"count": 0}  # nothing selected, nothing done
    assert post(client, "star", {"outputs": ["not-a-uuid"]}).status_code == 400
    assert post(client, "star", {"outputs": ids(mine) * 167}).status_code == 400  # over 500
    missing = "00000000-0000-4000-8000-000000000000"
    assert post(client, "delete", {"outputs": [*ids(mine), missing]}).status_code == 404
    assert Output.objects.count() == 3
    assert post(outsider, "delete", {"outputs": ids(mine)}).status_code == 401
