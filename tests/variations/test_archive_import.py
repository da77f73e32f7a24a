"""Galleries that come back: `manage.py archive --export` then `manage.py archive import` restores a
gallery whole (failed and cancelled jobs, who made what, lineage), and never twice."""

import io
import zipfile

import pytest
from django.core.management import CommandError, call_command

from tests.factories import make_job, make_source
from variations.models import Output, Source, Status, Variation
from variations.services import sources

pytestmark = pytest.mark.django_db


def archive(*args):
    out = io.StringIO()
    call_command("archive", *args, stdout=out)
    return out.getvalue()


def state_of(source_sha):
    """Everything a gallery is, by content and by id: its source, jobs (statuses, errors, parameters,
    owners, re-runs) and each output's bytes and flags."""
    source = Source.objects.get(sha256=source_sha)
    with source.image.open("rb") as fh:
        source_bytes = fh.read()
    jobs = {}
    for job in Variation.objects.filter(source=source).select_related("owner"):
        outputs = []
        for output in job.outputs.order_by("index"):
            with output.image.open("rb") as fh:
                outputs.append((output.pk, output.index, fh.read(), output.nsfw, output.starred, output.width))
            assert output.thumbnail.storage.exists(output.thumbnail.name)
        jobs[job.pk] = (
            job.status, job.error, job.error_code, job.params(), job.owner.username if job.owner else None,
            job.rerun_of_id, job.created_at, job.completed_at, job.inference_ms, outputs,
        )
    return {
        "source": (source.pk, source.title, source.width, source.uploaded_by_id, source.created_at, source_bytes),
        "derived_from": source.derived_from_id,
        "jobs": jobs,
    }


@pytest.fixture
def gallery(member, colleague):
    """A gallery with every kind of job, two people's work, a re-run, and a source varied from one of its outputs."""
    source = make_source(member)
    first = make_job(source, member, Status.COMPLETED, outputs=2, seed=1234, nsfw=(1,))
    make_job(source, colleague, Status.FAILED, error="WaveSpeed failed the task")
    make_job(source, member, Status.CANCELLED)
    rerun = make_job(source, colleague, Status.COMPLETED, seed=99)
    Variation.objects.filter(pk=rerun.pk).update(rerun_of=first)
    Output.objects.filter(variation=first, index=0).update(starred=True)
    varied = sources.vary_output(first.outputs.get(index=0), colleague)
    make_job(varied, colleague, Status.COMPLETED)
    return source, varied


def test_export_delete_import_gives_the_gallery_back_whole(gallery, tmp_path, django_capture_on_commit_callbacks):
    source, varied = gallery
    before, before_varied = state_of(source.sha256), state_of(varied.sha256)

    archive("--all", "--export", str(tmp_path / "backup"))
    with django_capture_on_commit_callbacks(execute=True):
        archive("--all", "--delete")
    assert not Source.objects.exists() and not Variation.objects.exists()

    output = archive("import", str(tmp_path / "backup"))

    assert "Imported 2 galleries, 5 jobs added." in output
    assert state_of(source.sha256) == before
    assert state_of(varied.sha256) == before_varied  # "Vary this" linked back to the output it came from
    assert Source.objects.get(sha256=varied.sha256).derived_from.variation.source.sha256 == source.sha256


def test_lineage_comes_back_whichever_gallery_is_imported_first(gallery, tmp_path, django_capture_on_commit_callbacks):
    source, varied = gallery
    parent_output = varied.derived_from_id
    archive("--source", str(source.pk), "--export", str(tmp_path / "parent"))
    archive("--source", str(varied.pk), "--export", str(tmp_path / "child"))
    with django_capture_on_commit_callbacks(execute=True):
        archive("--all", "--delete")

    archive("import", str(tmp_path / "child"))  # the output it was varied from is not here yet
    assert Source.objects.get(sha256=varied.sha256).derived_from_id is None
    archive("import", str(tmp_path / "parent"))
    assert Source.objects.get(sha256=varied.sha256).derived_from_id == parent_output


def test_importing_again_adds_nothing(gallery, tmp_path):
    source, _ = gallery
    archive("--source", str(source.pk), "--export", str(tmp_path))
    counts = (Source.objects.count(), Variation.objects.count(), Output.objects.count())

    output = archive("import", *map(str, tmp_path.glob("*.zip")))

    assert "0 jobs and 0 outputs added, 4 jobs already here" in output
    assert (Source.objects.count(), Variation.objects.count(), Output.objects.count()) == counts


def test_a_source_uploaded_again_is_matched_by_content_and_gets_its_jobs_back(gallery, member, tmp_path, django_capture_on_commit_callbacks):
    source, _ = gallery
    with source.image.open("rb") as fh:
        data = fh.read()
    archive("--source", str(source.pk), "--export", str(tmp_path))
    with django_capture_on_commit_callbacks(execute=True):
        sources.delete_source(source)
    again, _ = sources.store_source(data, user=member, filename="again.png")  # a new, empty gallery

    output = archive("import", str(tmp_path))

    assert "source already here" in output
    assert Source.objects.filter(sha256=source.sha256).count() == 1
    assert Variation.objects.filter(source=again).count() == 4
    assert {job.status for job in Variation.objects.filter(source=again)} == {"completed", "failed", "cancelled"}


def test_people_unknown_here_are_named_and_their_work_kept(gallery, colleague, tmp_path, django_capture_on_commit_callbacks):
    source, _ = gallery
    archive("--source", str(source.pk), "--export", str(tmp_path))
    with django_capture_on_commit_callbacks(execute=True):
        archive("--all", "--delete")
    colleague.delete()

    output = archive("import", str(tmp_path))

    assert f"made by people not known here (kept without a name): {colleague.username}" in output
    assert Variation.objects.filter(owner=None).count() == 2


def test_jobs_still_running_stay_out_of_an_export(member, tmp_path):
    source = make_source(member)
    make_job(source, member, Status.COMPLETED)
    make_job(source, member, Status.PROCESSING)
    archive("--source", str(source.pk), "--export", str(tmp_path))
    with zipfile.ZipFile(next(tmp_path.glob("*.zip"))) as bundle:
        assert '"status": "processing"' not in bundle.read("gallery.json").decode()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--export", "x"], "Say which galleries"),
        (["--all", "--older-than", "3", "--delete"], "Say which galleries"),
        (["--source", "not-an-id", "--delete"], "No gallery with the id not-an-id"),
    ],
)
def test_unclear_selections_are_refused(args, message):
    with pytest.raises(CommandError, match=message):
        archive(*args)


def test_a_zip_that_is_no_export_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as other:
        other.writestr("hello.txt", "hi")
    with pytest.raises(CommandError, match="not a gallery export"):
        archive("import", str(tmp_path / "other.zip"))
