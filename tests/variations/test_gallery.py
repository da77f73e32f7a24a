"""A source's gallery: jobs beside the source, the new-variation form, outputs (open, compare, vary, star), lineage."""

import re
import uuid

import pytest

from variations.models import Output, Source, Status, Variation
from variations.params import size_presets

from tests.factories import make_job, make_source


def field_block(html, name):
    """The HTML of the form field `name`, from its wrapper to the next field, to check a message sits next to it."""
    start = html.index(f'name="{name}"')
    opening = max(html.rfind('<div class="field', 0, start), html.rfind('<fieldset class="field', 0, start))
    following = [i for i in (html.find('<div class="field', start), html.find('<fieldset class="field', start), html.find("</form>", start)) if i != -1]
    return html[opening : min(following)]


def test_the_gallery_shows_the_source_beside_its_jobs_newest_first_with_chips(signed_in, member, source):
    older = make_job(source, member, outputs=2, seed=111, guidance_scale=2.0, size="768*512")
    newer = make_job(source, member, status=Status.FAILED, error="WaveSpeed failed the prediction", seed=222)
    page = signed_in.get(f"/sources/{source.pk}/")
    assert list(page.context["page"].object_list) == [newer, older]
    html = page.content.decode()
    assert f"/media/sources/{source.pk}/thumbnail" in html
    assert html.index(f'id="job-{newer.pk}"') < html.index(f'id="job-{older.pk}"')
    for chip in ("768 × 512", "Seed</span> 111", "Guidance</span> 2", "Steps</span> 28", "Outputs</span> 2", "Safety</span> on", "JPEG"):
        assert chip in html
    assert "WaveSpeed failed the prediction" in html
    assert html.count('class="tile shape-') == 2


def test_gallery_query_count_does_not_grow_with_jobs_and_outputs(signed_in, member, source, django_assert_max_num_queries):
    make_job(source, member, outputs=1)
    with django_assert_max_num_queries(12) as few:
        signed_in.get(f"/sources/{source.pk}/")
    for n in range(8):
        job = make_job(source, member, outputs=4, nsfw=(1,))
        if n % 3 == 0:
            make_source(member, derived_from=job.outputs.first())
    make_job(source, member, status=Status.PROCESSING)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = signed_in.get(f"/sources/{source.pk}/")
    assert page.content.decode().count('class="tile') >= 9 * 4


def test_the_form_shows_documented_defaults_ranges_presets_and_sizes_keeping_the_aspect(signed_in, member):
    source = make_source(member, size=(900, 600))
    html = signed_in.get(f"/sources/{source.pk}/").content.decode()
    assert 'name="size" value="1280*848"' in html  # the source's 3:2 at about a megapixel
    assert re.search(r'id="id_num_inference_steps" name="num_inference_steps" value="28" min="1" max="50"', html)
    assert re.search(r'id="id_guidance_scale" name="guidance_scale" value="3.5" min="1" max="20"', html)
    assert "Closeness to the source" in html
    assert 'data-preset="subtle"' in html and 'data-preset="strong"' in html
    for size in size_presets(900, 600):
        assert f'data-size="{size}"' in html
        width, height = map(int, size.split("*"))
        assert abs(width / height - 1.5) < 0.05
    assert 'id="id_enable_safety_checker" name="enable_safety_checker" value="true" checked' in html


def test_running_the_form_queues_a_job_with_exactly_those_parameters(signed_in, member, source):
    response = signed_in.post(
        f"/sources/{source.pk}/run",
        {
            "size": "768*512",
            "num_inference_steps": "20",
            "guidance_scale": "7",
            "seed": "",
            "num_images": "3",
            "output_format": "png",
            "enable_safety_checker": ["false"],  # the checkbox left unticked: only the hidden field is sent
        },
    )
    job = Variation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/sources/{source.pk}/#job-{job.pk}"
    assert (job.size, job.num_inference_steps, job.guidance_scale, job.num_images, job.output_format) == ("768*512", 20, 7.0, 3, "png")
    assert job.enable_safety_checker is False
    assert 0 <= job.seed <= 2_147_483_647  # drawn before submitting, so the job can be reproduced
    assert job.owner == member and job.status == Status.QUEUED


def test_the_ticked_safety_checker_and_a_given_seed_are_kept(signed_in, source):
    signed_in.post(f"/sources/{source.pk}/run", {"seed": "42", "enable_safety_checker": ["false", "true"]})
    job = Variation.objects.get()
    assert job.seed == 42 and job.enable_safety_checker is True
    assert job.size == "1024*1024" and job.num_inference_steps == 28  # left out: the documented defaults


def test_a_refused_form_comes_back_as_sent_with_each_error_next_to_its_field(signed_in, source):
    response = signed_in.post(
        f"/sources/{source.pk}/run",
        {"size": "4000*300", "num_inference_steps": "99", "guidance_scale": "3.5", "seed": "abc", "num_images": "2"},
    )
    assert response.status_code == 400
    assert Variation.objects.count() == 0
    html = response.content.decode()
    size_field = field_block(html, "size")
    assert 'value="4000*300"' in size_field and "between 256 and 1536" in size_field
    steps_field = field_block(html, "num_inference_steps")
    assert 'value="99"' in steps_field and "less than or equal to 50" in steps_field
    assert 'aria-invalid="true"' in steps_field
    assert "valid integer" in field_block(html, "seed")
    assert 'id="id_num_images_2" name="num_images" value="2" checked' in html


def test_edit_and_run_prefills_the_form_with_that_jobs_parameters(signed_in, member, source):
    job = make_job(source, member, seed=987654, size="768*512", guidance_scale=6.5, num_inference_steps=40, output_format="png")
    html = signed_in.get(f"/sources/{source.pk}/?edit={job.pk}").content.decode()
    assert 'name="size" value="768*512"' in html
    assert 'name="seed" value="987654"' in html
    assert 'name="guidance_scale" value="6.5"' in html
    assert 'name="num_inference_steps" value="40"' in html
    assert 'id="id_output_format_png" name="output_format" value="png" checked' in html


@pytest.mark.parametrize("edit", ["not-a-uuid", str(uuid.uuid4())])
def test_edit_of_an_unknown_job_is_a_404(signed_in, source, edit):
    assert signed_in.get(f"/sources/{source.pk}/?edit={edit}").status_code == 404


def test_edit_of_another_sources_job_is_a_404(signed_in, member, source):
    other_job = make_job(make_source(member), member)
    assert signed_in.get(f"/sources/{source.pk}/?edit={other_job.pk}").status_code == 404


def test_running_jobs_are_marked_for_live_updates_and_show_placeholders(signed_in, member, source):
    make_job(source, member, status=Status.PROCESSING, outputs=3)
    html = signed_in.get(f"/sources/{source.pk}/").content.decode()
    assert 'data-live="/jobs/live"' in html
    assert re.search(r'data-job="[0-9a-f-]+" data-active data-status="processing"', html)
    assert html.count("tile-placeholder") == 3
    assert "Cancel" in html


def test_nsfw_outputs_are_blurred_until_clicked(signed_in, member, source):
    make_job(source, member, outputs=2, nsfw=(1,))
    html = signed_in.get(f"/sources/{source.pk}/").content.decode()
    assert len(re.findall(r'class="tile shape-\d+ tile-nsfw"', html)) == 1
    assert html.count("data-reveal") == 1


def test_every_output_can_be_opened_compared_downloaded_varied_and_starred(signed_in, member, source):
    """A tile opens its output's page, which has every action (without scripts too); the gallery's one tile
    menu, which static/js/studio.js copies into each tile with its id for the zero one, has them all."""
    output = make_job(source, member).outputs.get()
    html = signed_in.get(f"/sources/{source.pk}/").content.decode()
    assert f'<a class="tile-image" href="/outputs/{output.pk}/">' in html
    menu = html.split('<template id="tile-menu" data-placeholder="')[1].split("</template>")[0]
    zero = menu[: menu.index('"')]
    page = signed_in.get(f"/outputs/{output.pk}/").content.decode()
    for link in ("/outputs/{}/", "/outputs/{}/?mode=slider", "/media/outputs/{}?download=1", "/outputs/{}/vary", "/outputs/{}/star"):
        assert link.format(zero) in menu
        assert link.format(output.pk).replace(f"/outputs/{output.pk}/?", "?") in page


@pytest.mark.parametrize("mode", ["single", "slider", "split"])
def test_the_output_page_shows_the_output_large_and_compares_it_with_the_source(signed_in, member, source, mode):
    output = make_job(source, member).outputs.get()
    html = signed_in.get(f"/outputs/{output.pk}/?mode={mode}").content.decode()
    assert f'data-mode="{mode}"' in html
    assert f'src="/media/outputs/{output.pk}"' in html  # the original, on demand
    assert f'src="/media/sources/{source.pk}"' in html
    assert 'class="compare-range" type="range"' in html


def test_vary_this_makes_the_output_a_source_linked_both_ways(signed_in, member, source):
    output = make_job(source, member).outputs.get()
    response = signed_in.post(f"/outputs/{output.pk}/vary")
    child = Source.objects.get(derived_from=output)
    assert response["Location"] == f"/sources/{child.pk}/"
    child_page = signed_in.get(f"/sources/{child.pk}/").content.decode()
    assert "Made from" in child_page and f"/outputs/{output.pk}/" in child_page and f"/sources/{source.pk}/" in child_page
    parent_page = signed_in.get(f"/sources/{source.pk}/").content.decode()
    assert "Variations made from this (1)" in parent_page and f"/sources/{child.pk}/" in parent_page
    output_page = signed_in.get(f"/outputs/{output.pk}/").content.decode()
    assert f"/sources/{child.pk}/" in output_page


def test_vary_this_with_the_file_gone_explains_instead_of_failing(signed_in, member, source):
    output = make_job(source, member).outputs.get()
    output.image.delete(save=False)
    response = signed_in.post(f"/outputs/{output.pk}/vary", follow=True)
    assert response.status_code == 200
    assert "missing from storage" in response.content.decode()
    assert Source.objects.count() == 1


def test_star_and_unstar_an_output(signed_in, member, source):
    output = make_job(source, member).outputs.get()
    response = signed_in.post(f"/outputs/{output.pk}/star", {"starred": "1"}, HTTP_ACCEPT="application/json")
    assert response.json() == {"starred": True}
    assert Output.objects.get(pk=output.pk).starred
    back = signed_in.post(f"/outputs/{output.pk}/star", {"starred": "0", "next": f"/sources/{source.pk}/"})
    assert back["Location"] == f"/sources/{source.pk}/"
    assert not Output.objects.get(pk=output.pk).starred


def test_a_star_request_that_makes_no_sense_is_a_400(signed_in, member, source):
    output = make_job(source, member).outputs.get()
    response = signed_in.post(f"/outputs/{output.pk}/star", {"starred": "maybe"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert not Output.objects.get(pk=output.pk).starred


def test_star_ignores_a_next_address_outside_the_site(signed_in, member, source):
    output = make_job(source, member).outputs.get()
    response = signed_in.post(f"/outputs/{output.pk}/star", {"starred": "1", "next": "https://evil.example/"})
    assert response["Location"] == f"/outputs/{output.pk}/"


def test_outputs_show_in_index_order_whatever_order_they_were_stored_in(signed_in, source, member):
    """The dispatcher stores outputs as their downloads finish, so rows may come in any order. (SQLite happens
    to read them through the (variation, index) index; PostgreSQL, in `make test-scale`, does not.)"""
    job = make_job(source, member, Status.COMPLETED, outputs=4)
    first = list(job.outputs.order_by("index"))
    Output.objects.filter(variation=job).delete()
    for output in reversed(first):  # stored last to first
        output.save(force_insert=True)

    html = signed_in.get(f"/sources/{source.pk}/").content.decode()

    positions = [html.index(f"/media/outputs/{output.pk}/thumbnail") for output in first]
    assert positions == sorted(positions)
