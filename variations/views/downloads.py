"""A whole source gallery as one zip: the source, every output, and the parameters as JSON and CSV."""

import tempfile

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from team.access import download_required

from ..models import Source
from ..services import archive


@download_required
@require_GET
def gallery_zip(request, source_id):
    source = get_object_or_404(Source, pk=source_id)
    # On disk, not in memory: a gallery of many PNGs can be hundreds of megabytes.
    zipped = tempfile.TemporaryFile()
    archive.write_gallery_archive(source, zipped)
    zipped.seek(0)
    return FileResponse(zipped, as_attachment=True, filename=source.archive_name, content_type="application/zip")
