"""Browse and find (issue 14): source titles, the library's search and filters, presets, default sizes,
one-click Vary, retries that say so, and the form remembering a person's choices."""

import io
import zipfile
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from sharing.models import Board
from team.models import Role
from variations.models import Source, Status, Variation
from variations.params import DEFAULTS, PRESETS, default_size
from variations.services import jobs as job_services
from variations.services.sources import rename_source

from tests.factories import api_as, make_image, make_job, make_person, make_source, pages_as


def titled(title, person, **fields):
    source = make_source(person, **fields)
    rename_source(source, title)
    return source


def found(client, query=""):
    response = client.get(f"/?{query}")
    assert response.status_code == 200, response.content[:500]
    return [source.title for source in response.context["page"].object_list]


# --- presets and sizes ---------------------------------------------------------------------------


def test_subtle_has_the_higher_guidance_for_redux_follows_its_source_more_closely_with_more_guidance():
    subtle, strong = PRESETS["subtle"]["guidance_scale"], PRESETS["strong"]["guidance_scale"]
    assert subtle > DEFAULTS["guidance_scale"] > strong
    assert 1.5 <= strong and subtle <= 8  # where FLUX dev still looks natural


@pytest.mark.parametrize(
    "width,height,expected",
    [(1200, 1600, "960*1280"), (1600, 1200, "1280*960"), (1024, 1024, "1024*1024"), (1920, 1080, "1280*720"), (4000, 150, "1536*256")],
)
def test_the_default_size_keeps_the_aspect_at_about_a_megapixel(width, height, expected):
    assert default_size(width, height) == expected


def test_a_portrait_source_starts_the_form_with_a_portrait_size(signed_in, member):
    portrait = make_source(member, size=(600, 800))
    html = signed_in.get(f"/sources/{portrait.pk}/").content.decode()
    assert 'name="size" value="960*1280"' in html


def test_the_form_remembers_the_persons_last_preset_count_format_and_safety(signed_in, member, colleague, source):
    make_job(source, colleague, outputs=1, num_images=2, output_format="jpeg")  # someone else's choices do not count
    make_job(source, member, outputs=1, **PRESETS["strong"], num_images=3, output_format="png", enable_safety_checker=False)
    form = signed_in.get(f"/sources/{source.pk}/").context["form"]
    assert form.values["guidance_scale"] == PRESETS["strong"]["guidance_scale"]
    assert (form.values["num_images"], form.values["output_format"], form.safety_checked) == (3, "png", False)
    assert form.values["size"] == default_size(source.width, source.height)  # the size follows the source, not the last job


# --- titles --------------------------------------------------------------------------------------


def test_uploads_are_named_after_their_files(signed_in):
    files = [SimpleUploadedFile(name, make_image(color=colour), "image/jpeg") for name, colour in
             (("Beach at dawn.jpg", (1, 2, 3)), ("portrait.final.png", (4, 5, 6)), ("IMG_0042.JPEG", (7, 8, 9)))]
    signed_in.post("/sources/upload", {"image": files})
    assert sorted(Source.objects.values_list("title", flat=True)) == ["Beach at dawn", "IMG_0042", "portrait.final"]


def test_the_api_names_a_source_and_renames_it(api, member):
    with io.BytesIO(make_image()) as image:
        image.name = "harbour.jpg"
        created = api.post("/api/v1/sources", {"image": image}).json()
    assert created["title"] == "harbour"
    response = api.patch(f"/api/v1/sources/{created['id']}", {"title": "  Harbour, evening  "}, content_type="application/json")
    assert response.status_code == 200 and response.json()["title"] == "Harbour, evening"
    assert Source.objects.get().title == "Harbour, evening"


@pytest.mark.parametrize("body", [{"title": "   "}, {"title": "x" * 201}, {"title": "ok", "width": 3}, {}])
def test_a_rename_is_validated(api, source, body):
    response = api.patch(f"/api/v1/sources/{source.pk}", body, content_type="application/json")
    assert response.status_code == 400
    source.refresh_from_db()
    assert source.title == "Untitled"


def test_members_rename_anyones_source_and_viewers_none(source, colleague, viewer):
    """Like a board's name, a title is the team's: any member may fix it; nothing is lost by a rename."""
    rename = {"title": "Renamed"}
    assert api_as(colleague).patch(f"/api/v1/sources/{source.pk}", rename, content_type="application/json").status_code == 200
    assert api_as(viewer).patch(f"/api/v1/sources/{source.pk}", rename, content_type="application/json").status_code == 403


def test_a_derived_source_says_what_it_came_from(member, completed_job):
    rename_source(completed_job.source, "Beach")
    output = completed_job.outputs.get(index=1)
    derived = make_source(member, derived_from=output)
    assert derived.title == "Variation 2 of Beach"


def test_the_zip_is_named_after_the_title_safely(signed_in, source):
    rename_source(source, 'Été / "quoted" <b>..\\name')
    response = signed_in.get(f"/sources/{source.pk}/download.zip")
    assert response["Content-Disposition"] == 'attachment; filename="ete-quoted-bname-variations.zip"'
    zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))  # still a whole zip


# --- search and filters --------------------------------------------------------------------------


def test_search_by_any_part_of_the_title_case_aside(signed_in, member):
    for title in ("Beach at dawn", "Mountain lake", "beachcomber", "Ab"):
        titled(title, member)
    assert sorted(found(signed_in, "q=BEACH")) == ["Beach at dawn", "beachcomber"]
    assert found(signed_in, "q=dawn+beach") == ["Beach at dawn"]  # every word, in any order
    assert found(signed_in, "q=ount") == ["Mountain lake"]
    assert found(signed_in, "q=ab") == ["Ab"]  # too short for a trigram, found all the same
    assert found(signed_in, "q=nothing-like-it") == []


def test_a_nul_in_the_search_is_dropped_not_a_server_error(signed_in, api, member):
    titled("Beach at dawn", member)
    assert found(signed_in, "q=be%00ach") == ["Beach at dawn"]
    assert api.get("/api/v1/sources", {"q": "da\x00wn", "person": "ali\x00ce"}).status_code == 200


def test_search_follows_renames_and_deletes(signed_in, member):
    source = titled("Old name", member)
    rename_source(source, "New name")
    assert found(signed_in, "q=old") == [] and found(signed_in, "q=new") == ["New name"]
    source.delete()
    assert found(signed_in, "q=new") == []


def test_search_by_seed_finds_the_source_of_that_job(signed_in, member):
    wanted, other = titled("Wanted", member), titled("Other", member)
    make_job(wanted, member, seed=424242)
    make_job(other, member, seed=1)
    assert found(signed_in, "q=424242") == ["Wanted"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite index")
def test_titles_are_searched_through_the_fts5_index(signed_in, member):
    titled("Indexed title", member)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM variations_source_title WHERE variations_source_title MATCH '\"dexed\"'")
        assert cursor.fetchone()[0] == 1
    response = signed_in.get("/?q=dexed")
    assert "variations_source_title MATCH" in str(response.context["page"].object_list.query)


def test_filters_starred_board_person_dates_varied_and_latest_status(signed_in, member, colleague):
    starred, on_board, by_colleague, old, failed, untouched = (
        titled(title, person) for title, person in
        (("starred", member), ("on board", member), ("by colleague", colleague), ("old", member), ("failed", member), ("untouched", member))
    )
    job = make_job(starred, member)
    job_services.set_starred(job.outputs.get(), True)
    board = Board.objects.create(name="Picks", created_by=member)
    board.add(make_job(on_board, member).outputs.get(), member)  # an output on the board brings its source
    make_job(by_colleague, colleague)
    Source.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    make_job(failed, member, status=Status.COMPLETED, created_at=timezone.now() - timedelta(hours=2))
    make_job(failed, member, status=Status.FAILED)  # the latest job is what counts
    assert found(signed_in, "starred=1") == ["starred"]
    assert found(signed_in, f"board={board.pk}") == ["on board"]
    board.add(untouched, member)
    assert sorted(found(signed_in, f"board={board.pk}")) == ["on board", "untouched"]
    assert found(signed_in, "person=bob") == ["by colleague"]
    day = (timezone.now() - timedelta(days=40)).date().isoformat()
    assert found(signed_in, f"date_from={day}&date_to={day}") == ["old"]
    assert sorted(found(signed_in, "varied=0")) == ["old", "untouched"]
    assert found(signed_in, "status=failed") == ["failed"]
    assert found(signed_in, "status=failed&starred=1") == []


def test_sorts(signed_in, member):
    first, second, third = (titled(title, member) for title in ("first", "second", "third"))
    for n, source in enumerate((first, second, third)):
        Source.objects.filter(pk=source.pk).update(created_at=timezone.now() - timedelta(days=10 - n))
    make_job(first, member, outputs=3, created_at=timezone.now() - timedelta(hours=1))
    make_job(second, member, outputs=1, created_at=timezone.now())
    assert found(signed_in, "") == ["third", "second", "first"]
    assert found(signed_in, "sort=oldest") == ["first", "second", "third"]
    assert found(signed_in, "sort=most") == ["first", "second", "third"]
    assert found(signed_in, "sort=recent") == ["second", "first", "third"]


def test_a_wrong_filter_is_reported_and_the_others_still_apply(signed_in, member):
    titled("Beach", member)
    titled("Lake", member)
    response = signed_in.get("/?q=beach&status=nonsense&date_from=2026-05-02&date_to=2026-05-01")
    assert response.status_code == 400
    assert set(response.context["filter_errors"]) == {"status", "date_to"}
    assert [s.title for s in response.context["page"].object_list] == ["Beach"]


def test_the_library_asks_as_many_queries_for_a_search_at_any_size(signed_in, member, django_assert_max_num_queries):
    query = "/?q=beach&starred=0&status=completed&sort=recent"
    make_job(titled("beach 0", member), member)
    with django_assert_max_num_queries(30) as few:
        assert signed_in.get(query).status_code == 200
    for n in range(12):
        make_job(titled(f"beach {n + 1}", member), member, outputs=2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(signed_in.get(query).context["page"].object_list) == 13


def test_the_api_lists_sources_newest_first_searched_and_paged(api, member):
    for n in range(23):
        source = titled(f"beach {n}", member)
        Source.objects.filter(pk=source.pk).update(created_at=timezone.now() - timedelta(minutes=n))
    titled("lake", member)
    body = api.get("/api/v1/sources?q=beach").json()
    assert body["count"] == 23 and [item["title"] for item in body["items"][:2]] == ["beach 0", "beach 1"]
    assert len(body["items"]) == 20
    assert [item["title"] for item in api.get("/api/v1/sources?q=beach&page=2").json()["items"]] == ["beach 20", "beach 21", "beach 22"]
    starred = api.get("/api/v1/sources?starred=true").json()
    assert starred["count"] == 0
    assert api.get("/api/v1/sources?status=nonsense").status_code == 400
    assert api_as(make_person("nobody", Role.VIEWER)).get("/api/v1/sources").status_code == 200


def test_the_job_history_searches_titles_and_seeds(signed_in, member):
    beach, lake = titled("Beach", member), titled("Lake", member)
    on_beach = make_job(beach, member, seed=7)
    on_lake = make_job(lake, member, seed=31337)
    response = signed_in.get("/jobs/?q=bea")
    assert list(response.context["page"].object_list) == [on_beach]
    assert list(signed_in.get("/jobs/?q=31337").context["page"].object_list) == [on_lake]


# --- one-click Vary ------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["subtle", "strong"])
def test_one_click_vary_makes_a_derived_source_and_starts_its_job(signed_in, member, completed_job, preset):
    output = completed_job.outputs.get(index=0)
    response = signed_in.post(f"/outputs/{output.pk}/vary", {"preset": preset})
    derived = Source.objects.get(derived_from=output)
    job = Variation.objects.get(source=derived)
    assert response.status_code == 302 and response["Location"] == f"/sources/{derived.pk}/#job-{job.pk}"
    assert job.status == Status.QUEUED and job.owner == member
    assert job.guidance_scale == PRESETS[preset]["guidance_scale"]
    assert job.size == default_size(derived.width, derived.height)
    assert derived.title.startswith("Variation 1 of ")


def test_one_click_vary_refuses_an_unknown_preset_and_viewers(member, viewer, completed_job):
    output = completed_job.outputs.get(index=0)
    assert pages_as(member).post(f"/outputs/{output.pk}/vary", {"preset": "wild"}).status_code == 302
    assert pages_as(viewer).post(f"/outputs/{output.pk}/vary", {"preset": "subtle"}).status_code == 403
    assert not Source.objects.filter(derived_from=output).exists()


# --- retries -------------------------------------------------------------------------------------


def test_a_job_is_retried_once_and_then_links_to_its_retry(signed_in, member, source):
    failed = make_job(source, member, status=Status.FAILED, error="boom")
    signed_in.post(f"/jobs/{failed.pk}/retry")
    signed_in.post(f"/jobs/{failed.pk}/retry")  # a second click, or a second tab
    retry = Variation.objects.get(rerun_of=failed)
    html = signed_in.get(f"/sources/{source.pk}/").content.decode()
    failed_card = html[html.index(f'id="job-{failed.pk}"'):]
    assert f"/jobs/{failed.pk}/retry" not in html
    assert f'href="/sources/{source.pk}/#job-{retry.pk}" data-retry-link' in failed_card


# --- pages: rename, titles, the lightbox's order -------------------------------------------------


def test_renaming_on_the_gallery_page(member, viewer, source):
    page = pages_as(member)
    assert page.post(f"/sources/{source.pk}/rename", {"title": "  Cover shot "}).status_code == 302
    source.refresh_from_db()
    assert source.title == "Cover shot"
    html = page.get(f"/sources/{source.pk}/").content.decode()
    assert "<title>Cover shot · fluxsite</title>" in html and 'action="/sources/' in html
    page.post(f"/sources/{source.pk}/rename", {"title": "   "})
    assert pages_as(viewer).post(f"/sources/{source.pk}/rename", {"title": "Mine"}).status_code == 403
    source.refresh_from_db()
    assert source.title == "Cover shot"


def test_the_library_shows_titles_filters_and_board_choices(signed_in, member):
    titled("Harbour <at> dusk", member)
    Board.objects.create(name="Client picks", created_by=member)
    html = signed_in.get("/").content.decode()
    assert "Harbour &lt;at&gt; dusk" in html
    assert 'role="search"' in html and "Client picks" in html


def test_the_lightbox_walks_the_gallery_newest_job_first_then_by_index(signed_in, member, source):
    older = make_job(source, member, outputs=2, created_at=timezone.now() - timedelta(hours=1))
    newer = make_job(source, member, outputs=2)
    order = [*newer.outputs.order_by("index"), *older.outputs.order_by("index")]
    for at, output in enumerate(order):
        context = signed_in.get(f"/outputs/{output.pk}/?mode=slider").context
        assert context["previous"] == (order[at - 1].pk if at else None)
        assert context["following"] == (order[at + 1].pk if at + 1 < len(order) else None)
        assert context["back"] == f"/sources/{source.pk}/#output-{output.pk}"
    html = signed_in.get(f"/outputs/{order[1].pk}/?mode=slider").content.decode()
    assert f'href="/outputs/{order[2].pk}/?mode=slider" rel="next"' in html
    assert 'id="lightbox-keys"' in html and 'data-lightbox-vary="subtle"' in html


def test_a_gallery_carries_one_tile_menu_for_all_its_tiles(signed_in, member, source):
    """The page's one menu template is copied into each tile by static/js/studio.js (the browser tests open
    it); in the HTML a tile is only its image, linked to the output's page, which has every action."""
    job = make_job(source, member, outputs=3)
    html = signed_in.get(f"/sources/{source.pk}/").content.decode()
    assert html.count('<template id="tile-menu"') == 1 and html.count('class="tile-menu"') == 1
    for output in job.outputs.all():
        tile = html.split(f'id="output-{output.pk}"')[1].split("</figure>")[0]
        assert f'<a class="tile-image" href="/outputs/{output.pk}/">' in tile
        assert "<summary" not in tile and "<form" not in tile


@pytest.mark.parametrize("query", ["date_to=0", "date_from=1700000000", "status=done", "sort=random", "board=0", "q=" + "x" * 201])
def test_the_api_refuses_filters_outside_its_schema(api, query):
    response = api.get(f"/api/v1/sources?{query}")
    assert response.status_code == 400, response.content


def test_board_and_gallery_tiles_carry_their_shape_for_justified_rows(signed_in, member):
    panorama, portrait = make_source(member, size=(1600, 200)), make_source(member, size=(600, 900))
    job = make_job(portrait, member)
    job.outputs.update(width=832, height=1216)  # as a portrait job's output is stored
    board = Board.objects.create(name="Shapes", created_by=member)
    board.add(panorama, member)
    board.add(job.outputs.get(), member)
    html = signed_in.get(f"/boards/{board.pk}/").content.decode()
    assert 'class="tile shape-30"' in html  # 8:1 shown at the widest shape, 3:1
    assert 'class="tile shape-7"' in html  # the portrait output, about 2:3
    library = signed_in.get("/").content.decode()
    assert 'class="source-tile card shape-30"' in library and 'class="source-tile card shape-7"' in library
