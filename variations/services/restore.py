"""Galleries that come back: the restore manifest (gallery.json) an exported zip carries, and
`import_gallery`, which reads such a zip back into this or another instance.

The manifest holds every row of the gallery as the database has it (the source, every finished job,
failed and cancelled ones too, and their outputs), who made what (by username), and lineage both
ways: the output a source was varied from, and the sources varied from its outputs. Rows are written
field by field from the models, so a field added later travels too; on import, fields this version
does not know are left out and missing ones take their defaults.

Importing never duplicates: the source is matched by content hash, a job already here (same id) is
left as it is, and links (re-runs, "Vary this") are made to whatever part of the lineage is here.
"""

import datetime
import hashlib
import json
import zipfile

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from .. import images
from ..models import TERMINAL_STATUSES, Output, Source, Variation

MANIFEST = "gallery.json"
FORMAT = "fluxsite-gallery/1"
FILES = {"image", "thumbnail"}  # stored files travel as zip members, thumbnails are made again
LOCAL_ONLY = {"wavespeed_url", "wavespeed_uploaded_at", "wavespeed_upload_for", "delete_pending"}  # this instance's own state
PEOPLE = {"uploaded_by": "uploaded_by", "owner": "owner"}


class NotAnArchive(ValueError):
    """A file that is no gallery export of this app (or of a version it cannot read)."""


def _fields(instance):
    """{name: value} of every plain field (relations, files and local state apart), JSON-ready."""
    skip = FILES | LOCAL_ONLY
    return {
        field.name: field.value_from_object(instance)
        for field in instance._meta.concrete_fields
        if not field.is_relation and field.name not in skip
    }


def _username(user):
    return user.get_username() if user else None


def manifest(source, file_names):
    """The restore manifest of a gallery; `file_names` maps each stored file's name to its zip member."""
    jobs = (
        Variation.objects.filter(source=source, status__in=TERMINAL_STATUSES)
        .select_related("owner").prefetch_related("outputs").order_by("created_at")
    )
    derived = Source.objects.filter(derived_from__variation__source=source).values_list("sha256", "derived_from_id")
    return {
        "format": FORMAT,
        "source": {
            **_fields(source),
            "file": file_names.get(source.image.name),
            "uploaded_by": _username(source.uploaded_by),
            "derived_from": source.derived_from_id,
        },
        "jobs": [
            {
                **_fields(job),
                "owner": _username(job.owner),
                "rerun_of": job.rerun_of_id,
                "outputs": [
                    {**_fields(output), "file": file_names.get(output.image.name)}
                    for output in sorted(job.outputs.all(), key=lambda output: output.index)
                ],
            }
            for job in jobs
        ],
        "derived_sources": [{"sha256": sha256, "from_output": output_id} for sha256, output_id in derived],
    }


class _Encoder(DjangoJSONEncoder):
    """Django's encoder, but times to the microsecond (it cuts them to milliseconds), so they come back exact."""

    def default(self, o):
        if isinstance(o, datetime.datetime):
            return o.isoformat()
        return super().default(o)


def manifest_json(source, file_names):
    return json.dumps(manifest(source, file_names), cls=_Encoder, indent=1)


class ImportResult:
    def __init__(self):
        self.source = None
        self.source_created = False
        self.jobs_added = self.jobs_already_here = self.outputs_added = 0
        self.unknown_people = set()
        self.missing_files = []


def _values(model, row):
    """Model field values from a manifest row: known fields only, converted back from JSON."""
    values = {}
    for field in model._meta.concrete_fields:
        if field.is_relation or field.name in FILES | LOCAL_ONLY or field.name not in row:
            continue
        value = row[field.name]
        values[field.name] = None if value is None else field.to_python(value)
    return values


class _People:
    """People by username, looked up once each; names not known here are collected, not created."""

    def __init__(self, result):
        self.result = result
        self.found = {}

    def __call__(self, username):
        if not username:
            return None
        if username not in self.found:
            self.found[username] = get_user_model().objects.filter(username=username).first()
            if self.found[username] is None:
                self.result.unknown_people.add(username)
        return self.found[username]


def import_gallery(path):
    """Restore one exported gallery zip; returns an ImportResult. Files are written before rows."""
    result = ImportResult()
    people = _People(result)
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read(MANIFEST))
            if data.get("format") != FORMAT:
                raise NotAnArchive(f"{path}: not a gallery export this version reads ({data.get('format')!r})")
            with transaction.atomic():
                source = _restore_source(archive, data["source"], people, result)
                for row in data["jobs"]:
                    _restore_job(archive, source, row, people, result)
                _link_lineage(source, data)
    except (KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise NotAnArchive(f"{path}: not a gallery export of fluxsite ({exc})") from None
    return result


def _restore_source(archive, row, people, result):
    existing = Source.objects.filter(sha256=row["sha256"]).first()
    if existing:
        result.source = existing
        return existing
    data = archive.read(row["file"])
    if hashlib.sha256(data).hexdigest() != row["sha256"]:
        raise NotAnArchive(f"{row['file']}: its bytes do not match the source's sha256")
    values = _values(Source, row)
    if Source.objects.filter(pk=values.get("id")).exists():
        del values["id"]  # another source took that id here: a new one
    source = Source(**values, uploaded_by=people(row.get("uploaded_by")))
    source.image.save("source", ContentFile(data), save=False)
    source.thumbnail.save("thumbnail", ContentFile(images.inspect(data).thumbnail), save=False)
    source.save(force_insert=True)
    result.source, result.source_created = source, True
    return source


def _restore_job(archive, source, row, people, result):
    if Variation.objects.filter(pk=row["id"]).exists():
        result.jobs_already_here += 1
        return
    job = Variation.objects.create(**_values(Variation, row), source=source, owner=people(row.get("owner")))
    result.jobs_added += 1
    for output_row in row["outputs"]:
        if not output_row.get("file") or output_row["file"] not in archive.namelist():
            result.missing_files.append(f"job {job.pk} output {output_row['index']}")
            continue
        data = archive.read(output_row["file"])
        output = Output(**_values(Output, output_row), variation=job)
        _, _, _, thumbnail = images.output_info(data, job.output_format)
        output.image.save("output", ContentFile(data), save=False)
        output.thumbnail.save("thumbnail", ContentFile(thumbnail), save=False)
        output.save(force_insert=True)
        result.outputs_added += 1


def _link_lineage(source, data):
    """Re-runs and "Vary this", in both directions, to whatever of the lineage is here already."""
    for row in data["jobs"]:
        if row.get("rerun_of") and Variation.objects.filter(pk=row["rerun_of"]).exists():
            Variation.objects.filter(pk=row["id"], rerun_of__isnull=True).update(rerun_of=row["rerun_of"])
    parent = data["source"].get("derived_from")
    if parent and source.derived_from_id is None and Output.objects.filter(pk=parent).exists():
        Source.objects.filter(pk=source.pk).update(derived_from=parent)
    for child in data.get("derived_sources", []):
        if Output.objects.filter(pk=child["from_output"]).exists():
            Source.objects.filter(sha256=child["sha256"], derived_from__isnull=True).update(derived_from=child["from_output"])
