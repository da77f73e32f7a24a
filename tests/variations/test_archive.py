"""`manage.py archive`: export and prune whole galleries by age, for backups and clean-ups."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.factories import make_job, make_source
from variations.models import Output, Source, Status, Variation

pytestmark = pytest.mark.django_db


def age(source, days):
    """Make a gallery `days` old: its upload and every job on it."""
    then = timezone.now() - timedelta(days=days)
    Source.objects.filter(pk=source.pk).update(created_at=then)
    Variation.objects.filter(source=source).update(created_at=then)
    source.refresh_from_db()


def archive(*args):
    out = io.StringIO()
    call_command("archive", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def old_gallery(member):
    source = make_source(member)
    make_job(source, member, Status.COMPLETED, outputs=2, seed=1234)
    make_job(source, member, Status.FAILED)
    age(source, 100)
    return source


def files_of(source):
    names = [source.image.name, source.thumbnail.name]
    for output in Output.objects.filter(variation__source=source):
        names += [output.image.name, output.thumbnail.name]
    return names


def test_export_writes_one_zip_per_old_gallery_with_source_outputs_and_parameters(old_gallery, member, tmp_path):
    recent = make_source(member)
    make_job(recent, member, Status.COMPLETED)

    output = archive("--older-than", "90", "--export", str(tmp_path / "backup"))

    zips = list((tmp_path / "backup").glob("*.zip"))
    assert [z.name for z in zips] == [f"gallery-{old_gallery.created_at:%Y%m%d}-{old_gallery.sha256[:12]}.zip"]
    with zipfile.ZipFile(zips[0]) as bundle:
        names = bundle.namelist()
        parameters = json.loads(bundle.read("parameters.json"))
    assert f"source-{old_gallery.sha256[:12]}.jpg" in names
    assert len([n for n in names if n.startswith("outputs/")]) == 2
    assert {row["seed"] for row in parameters["outputs"]} == {1234}
    assert "Exported 1, deleted 0 galleries." in output
    assert Source.objects.count() == 2  # exporting deletes nothing


def test_delete_removes_old_galleries_with_their_jobs_outputs_and_files(old_gallery, member, django_capture_on_commit_callbacks):
    names = files_of(old_gallery)
    assert all(default_storage.exists(name) for name in names)
    recent = make_source(member)
    make_job(recent, member, Status.COMPLETED)

    with django_capture_on_commit_callbacks(execute=True):  # files go once the rows are gone for good
        output = archive("--older-than", "90", "--delete")

    assert not Source.objects.filter(pk=old_gallery.pk).exists()
    assert not Variation.objects.filter(source_id=old_gallery.pk).exists()
    assert not Output.objects.filter(variation__source_id=old_gallery.pk).exists()
    assert not any(default_storage.exists(name) for name in names)
    assert Source.objects.filter(pk=recent.pk).exists()
    assert all(default_storage.exists(name) for name in files_of(recent))
    assert "deleted 1 galleries" in output


def test_a_new_job_on_an_old_source_keeps_its_gallery(old_gallery, member):
    make_job(old_gallery, member, Status.COMPLETED)  # run today
    archive("--older-than", "90", "--delete")
    assert Source.objects.filter(pk=old_gallery.pk).exists()


def test_galleries_with_a_running_job_are_never_taken(old_gallery, member):
    running = make_job(old_gallery, member, Status.PROCESSING)
    Variation.objects.filter(pk=running.pk).update(created_at=timezone.now() - timedelta(days=100))
    archive("--older-than", "90", "--delete")
    assert Source.objects.filter(pk=old_gallery.pk).exists()


def test_starred_galleries_are_kept_unless_asked(old_gallery):
    Output.objects.filter(variation__source=old_gallery).update(starred=True)
    archive("--older-than", "90", "--delete")
    assert Source.objects.filter(pk=old_gallery.pk).exists()
    archive("--older-than", "90", "--delete", "--include-starred")
    assert not Source.objects.filter(pk=old_gallery.pk).exists()


def test_dry_run_lists_and_changes_nothing(old_gallery, tmp_path):
    output = archive("--older-than", "90", "--delete", "--export", str(tmp_path / "backup"), "--dry-run")
    assert "Would take 1 galleries" in output and old_gallery.sha256[:12] in output
    assert Source.objects.filter(pk=old_gallery.pk).exists()
    assert not (tmp_path / "backup").exists()


@pytest.mark.parametrize(
    "args, message",
    [(["--older-than", "30"], "--export FOLDER, --delete, or both"), (["--older-than", "-1", "--delete"], "0 or more days")],
)
def test_unclear_requests_are_refused(args, message):
    with pytest.raises(CommandError, match=message):
        archive(*args)
