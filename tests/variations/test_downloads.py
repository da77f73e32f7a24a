"""Downloading a whole source gallery as one zip: the source, every output, and every output's parameters."""

import csv
import io
import json
import zipfile


from variations import images
from variations.models import Status

from tests.factories import make_job, make_source


def download(client, source):
    response = client.get(f"/sources/{source.pk}/download.zip")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="{source.archive_name}"'
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_zip_holds_the_source_every_output_and_their_parameters(signed_in, member, colleague):
    source = make_source(member)
    first = make_job(source, member, outputs=2, seed=11, guidance_scale=2.0)
    second = make_job(source, colleague, outputs=1, seed=22, output_format="jpeg")
    make_job(source, member, status=Status.FAILED)  # no outputs, nothing to add
    make_job(make_source(member), member, outputs=3)  # another gallery: not in this zip
    archive = download(signed_in, source)

    names = archive.namelist()
    assert f"source-{source.sha256[:12]}.jpg" in names
    with source.image.open("rb") as original:
        assert archive.read(f"source-{source.sha256[:12]}.jpg") == original.read()
    outputs = [n for n in names if n.startswith("outputs/")]
    assert len(outputs) == 3

    summary = json.loads(archive.read("parameters.json"))
    assert summary["source"]["sha256"] == source.sha256
    rows = {(row["job"], row["output_index"]): row for row in summary["outputs"]}
    assert set(rows) == {(str(first.pk), 0), (str(first.pk), 1), (str(second.pk), 0)}
    row = rows[(str(first.pk), 1)]
    assert (row["seed"], row["guidance_scale"], row["size"], row["run_by"]) == (11, 2.0, first.size, "alice")
    assert row["model"] == "wavespeed-ai/flux-redux-dev"
    assert row["file"] in outputs

    table = list(csv.DictReader(io.StringIO(archive.read("parameters.csv").decode())))
    assert sorted((r["job"], r["seed"]) for r in table) == sorted([(str(first.pk), "11")] * 2 + [(str(second.pk), "22")])


def test_each_output_file_in_the_zip_still_tells_how_it_was_made(signed_in, member):
    source = make_source(member)
    job = make_job(source, member, outputs=1, seed=4242)
    archive = download(signed_in, source)
    [name] = [n for n in archive.namelist() if n.startswith("outputs/")]
    embedded = images.read_parameters(archive.read(name))
    assert embedded["seed"] == 4242 and embedded["job"] == str(job.pk)


def test_a_gallery_without_outputs_still_downloads_its_source(signed_in, member):
    source = make_source(member)
    archive = download(signed_in, source)
    assert sorted(archive.namelist()) == sorted([f"source-{source.sha256[:12]}.jpg", "parameters.json", "parameters.csv"])
    assert json.loads(archive.read("parameters.json"))["outputs"] == []


def test_a_file_missing_from_storage_is_listed_not_fatal(signed_in, member):
    source = make_source(member)
    job = make_job(source, member, outputs=2)
    job.outputs.get(index=0).image.delete(save=False)
    archive = download(signed_in, source)
    summary = json.loads(archive.read("parameters.json"))
    assert len(summary["outputs"]) == 1
    assert len(summary["missing"]) == 1
