"""The library page: the grid of sources with their latest variations, the empty state, and uploads."""

from django.core.files.uploadedfile import SimpleUploadedFile

from variations.models import Source, Status

from tests.factories import make_image
from tests.factories import make_job, make_source

JSON = {"HTTP_ACCEPT": "application/json"}


def image_file(name="photo.jpg", **kwargs):
    return SimpleUploadedFile(name, make_image(**kwargs), content_type="image/jpeg")


def test_a_new_install_shows_how_to_upload_the_first_image(signed_in):
    page = signed_in.get("/").content.decode()
    assert "Your library is empty" in page
    assert 'id="upload-input"' in page and 'type="file"' in page
    assert "drag it onto this page" in page


def test_sources_are_shown_newest_first_with_counts_and_their_latest_variations(signed_in, member):
    older = make_source(member)
    newer = make_source(member)
    jobs = [make_job(older, member, outputs=2) for _ in range(3)]
    make_job(older, member, status=Status.PROCESSING)
    page = signed_in.get("/")
    sources = list(page.context["page"].object_list)
    assert sources == [newer, older]
    assert (sources[1].job_count, sources[1].output_count, sources[1].active_count) == (4, 6, 1)
    newest_outputs = [o.pk for job in reversed(jobs) for o in job.outputs.all()][:4]
    assert {o.pk for o in sources[1].strip} == set(newest_outputs)
    assert sources[0].strip == []
    html = page.content.decode()
    assert "6 variations" in html and "1 running" in html and "No variations yet" in html
    assert "/thumbnail" in html


def test_library_query_count_does_not_grow_with_sources(signed_in, member, django_assert_max_num_queries):
    def add_sources(count):
        for _ in range(count):
            source = make_source(member)
            make_job(source, member, outputs=2)
            make_job(source, member, status=Status.QUEUED)

    add_sources(2)
    with django_assert_max_num_queries(12) as few:  # the page, its filters' choices, the banner and the picks badge
        signed_in.get("/")
    add_sources(10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = signed_in.get("/")
    assert len(page.context["page"].object_list) == 12


def test_library_pages_through_many_sources(signed_in, member):
    for _ in range(26):
        make_source(member)
    first = signed_in.get("/")
    assert len(first.context["page"].object_list) == 24
    assert "Page 1 of 2" in first.content.decode()
    assert len(signed_in.get("/?page=2").context["page"].object_list) == 2
    assert signed_in.get("/?page=oops").status_code == 200


def test_upload_by_script_answers_per_file_json_with_a_ready_tile(signed_in, member):
    response = signed_in.post("/sources/upload", {"image": image_file()}, **JSON)
    assert response.status_code == 200
    [result] = response.json()["results"]
    source = Source.objects.get(pk=result["id"])
    assert result["ok"] and result["created"]
    assert source.uploaded_by == member
    assert result["url"] == f"/sources/{source.pk}/"
    assert result["run_url"] == f"/sources/{source.pk}/run"
    assert f'data-source="{source.pk}"' in result["tile_html"]


def test_the_same_image_twice_is_one_source(signed_in):
    first = signed_in.post("/sources/upload", {"image": image_file()}, **JSON).json()["results"][0]
    again = signed_in.post("/sources/upload", {"image": image_file("copy.jpg")}, **JSON).json()["results"][0]
    assert again["ok"] and not again["created"]
    assert again["id"] == first["id"]
    assert Source.objects.count() == 1


def test_a_file_that_is_not_an_image_gets_its_own_clear_error(signed_in):
    text = SimpleUploadedFile("notes.txt", b"just some words", content_type="text/plain")
    response = signed_in.post("/sources/upload", {"image": text}, **JSON)
    assert response.status_code == 400
    [result] = response.json()["results"]
    assert result == {"name": "notes.txt", "ok": False, "error": result["error"]}
    assert "not an image" in result["error"]
    assert Source.objects.count() == 0


def test_a_file_over_the_limit_is_refused_with_the_limit(signed_in, settings):
    settings.FLUXSITE_MAX_UPLOAD_BYTES = 2000
    response = signed_in.post("/sources/upload", {"image": image_file(size=(800, 800))}, **JSON)
    assert response.status_code == 400
    assert "limit" in response.json()["results"][0]["error"]
    assert Source.objects.count() == 0


def test_upload_without_a_file_is_a_clear_400(signed_in):
    response = signed_in.post("/sources/upload", {}, **JSON)
    assert response.status_code == 400
    assert "Choose at least one image" in response.json()["error"]


def test_form_upload_of_several_files_keeps_the_good_ones_and_reports_each(signed_in):
    files = [image_file("a.jpg", color=(1, 2, 3)), SimpleUploadedFile("b.txt", b"nope"), image_file("c.jpg", color=(9, 8, 7))]
    response = signed_in.post("/sources/upload", {"image": files}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert Source.objects.count() == 2
    messages = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("a.jpg") and "uploaded" in m for m in messages)
    assert any(m.startswith("b.txt:") and "not an image" in m for m in messages)


def test_form_upload_of_one_file_goes_straight_to_its_gallery_to_start_variations(signed_in):
    response = signed_in.post("/sources/upload", {"image": image_file()})
    source = Source.objects.get()
    assert response["Location"] == f"/sources/{source.pk}/"
