"""The files a share link serves: exactly those of its gallery or board, thumbnails and larger previews
always, originals and the zip only when the link allows downloads, as copies without personal metadata."""

import tempfile

from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET
from PIL import Image

from variations import metadata
from variations.models import Output, Source, Status
from variations.services import archive
from variations.views.media import attachment, file_answer, send_file

from ..models import board_contents
from ..previews import preview_of
from .shared import open_link, private


def send_shared(field, content_type, download_name=None):
    response = private(send_file(field, content_type, download_name))
    response["Cache-Control"] = "private, no-cache"  # a revoked link stops showing images at once
    return response


def not_shared(text):
    return private(HttpResponse(text, status=404, content_type="text/plain"))


def open_for_file(request, token, granted, original):
    """(link, None) if the link is live and shares this file (originals only when it allows
    downloads), else (None, the answer that refuses it)."""
    link, refused = open_link(request, token)
    if refused:
        return None, refused
    if not granted(link):
        return None, not_shared("This link does not share that image.")
    if original and not link.allow_download:
        return None, not_shared("This link shares thumbnails and previews only.")
    return link, None


@require_GET
def shared_source_file(request, token, source_id, thumbnail=False, preview=False):
    link, refused = open_for_file(request, token, lambda link: link.grants_source(source_id), not (thumbnail or preview))
    if refused:
        return refused
    source = get_object_or_404(Source, pk=source_id)
    if preview:
        return preview_answer(source)
    return file_answer(request, source, thumbnail, send=send_shared if thumbnail else copy_for_link(with_parameters=True))


@require_GET
def shared_output_file(request, token, output_id, thumbnail=False, preview=False):
    link, refused = open_for_file(request, token, lambda link: link.grants_output(output_id), not (thumbnail or preview))
    if refused:
        return refused
    output = get_object_or_404(Output.objects.filter(variation__status=Status.COMPLETED), pk=output_id)
    if preview:
        return preview_answer(output)
    return file_answer(request, output, thumbnail, send=send_shared if thumbnail else copy_for_link(link.show_parameters))


def preview_answer(item):
    """The larger preview a "thumbnails only" link opens (sharing.previews), never the original."""
    try:
        return send_shared(preview_of(item), "image/webp")
    except FileNotFoundError:
        return not_shared("The image is missing from storage.")
    except (OSError, ValueError, Image.DecompressionBombError):
        return not_shared("This image is damaged and cannot be shown larger.")


def copy_for_link(with_parameters):
    """A `send` for originals, which leave the team here: a copy without location, serials and owner
    names (variations.metadata), and without the generation parameters unless the link shows them.
    Thumbnails need none of this: they are drawn anew and carry no metadata."""

    def send(field, content_type, download_name=None):
        try:
            with field.open("rb") as stored:
                data = metadata.copy_for_link(stored.read(), with_parameters)
        except FileNotFoundError:
            raise Http404("The file is missing from storage.") from None
        if data is None:
            return not_shared("This image is damaged and cannot be shared.")
        response = private(HttpResponse(data, content_type=content_type))
        response["Cache-Control"] = "private, no-cache"
        response["X-Content-Type-Options"] = "nosniff"
        if download_name:
            response["Content-Disposition"] = attachment(download_name)
        return response

    return send


@require_GET
def shared_zip(request, token):
    """A shared gallery or board as a zip, when the link allows downloads (parameters only if it shows them)."""
    link, refused = open_link(request, token)
    if refused:
        return refused
    if not link.allow_download:
        return not_shared("This link does not offer a zip.")
    zipped = tempfile.TemporaryFile()
    if link.board_id:
        archive.write_archive(zipped, *board_contents(link.board), with_parameters=link.show_parameters, leaves_team=True)
        name = f"board-{link.board_id}.zip"
    else:
        archive.write_gallery_archive(link.source, zipped, with_parameters=link.show_parameters, leaves_team=True)
        name = link.source.archive_name
    zipped.seek(0)
    return private(FileResponse(zipped, as_attachment=True, filename=name, content_type="application/zip"))
