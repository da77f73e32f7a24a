"""Media files, served only to whoever may see them: never from a public /media/ folder.

/media/... needs a session or an API token; /s/<token>/media/... needs a live share link, and
grants exactly the files of its gallery or board: thumbnails always, originals and the zip only
when the link allows downloads.
"""

import tempfile

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from .. import images, services
from ..api_auth import BearerToken
from ..models import Output, Source, Status
from .shared import open_link, private

def requester(request):
    """The signed-in user, or the owner of a valid `Authorization: Bearer` token, or None."""
    if request.user.is_authenticated:
        return request.user
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():  # the scheme is case-insensitive, as in the API
        return BearerToken().authenticate(request, token.strip())
    return None


def send_file(field, content_type, download_name=None):
    """Send a stored file to someone the view has let in.

    Local storage: stream it, or with FLUXSITE_SENDFILE_HEADER set hand it to the front proxy.
    Object storage (S3): redirect to a URL signed for FLUXSITE_S3_URL_SECONDS, so the bytes go
    straight from the private bucket to this one person and never through the app.
    """
    if not isinstance(field.storage, FileSystemStorage):
        return redirect_to_signed_url(field, content_type, download_name)
    header = settings.FLUXSITE_SENDFILE_HEADER
    if header:
        response = HttpResponse(content_type=content_type)
        response[header] = settings.FLUXSITE_SENDFILE_PREFIX + field.name
    else:
        try:
            response = FileResponse(field.open("rb"), content_type=content_type)
        except FileNotFoundError:
            raise Http404("The file is missing from storage.") from None
    if download_name:
        response["Content-Disposition"] = attachment(download_name)
    response["Cache-Control"] = "private, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def attachment(download_name):
    return f'attachment; filename="{download_name}"'


def redirect_to_signed_url(field, content_type, download_name):
    parameters = {"ResponseContentType": content_type}
    if download_name:
        parameters["ResponseContentDisposition"] = attachment(download_name)
    response = HttpResponseRedirect(field.storage.url(field.name, parameters=parameters))
    # The browser may reuse the redirect (and the image behind it) while the signature is still good.
    response["Cache-Control"] = f"private, max-age={getattr(field.storage, 'querystring_expire', 0) // 2}"
    return response


def denied():
    return HttpResponse("Sign in, or send an API token, to see this file.", status=401, content_type="text/plain")


def file_answer(request, item, thumbnail, send=send_file):
    """A source's or an output's thumbnail or original (`?download` for an attachment)."""
    if thumbnail:
        return send(item.thumbnail, "image/webp")
    return send(item.image, item.content_type, item.download_name if "download" in request.GET else None)


@require_GET
def source_file(request, source_id, thumbnail=False):
    if requester(request) is None:
        return denied()
    return file_answer(request, get_object_or_404(Source, pk=source_id), thumbnail)


@require_GET
def output_file(request, output_id, thumbnail=False):
    if requester(request) is None:
        return denied()
    return file_answer(request, get_object_or_404(Output, pk=output_id), thumbnail)


def send_shared(field, content_type, download_name=None):
    response = private(send_file(field, content_type, download_name))
    response["Cache-Control"] = "private, no-cache"  # a revoked link stops showing images at once
    return response


def not_shared(text):
    return private(HttpResponse(text, status=404, content_type="text/plain"))


def open_for_file(request, token, granted, thumbnail):
    """(link, None) if the link is live and shares this file (originals only when it allows
    downloads), else (None, the answer that refuses it)."""
    link, refused = open_link(request, token)
    if refused:
        return None, refused
    if not granted(link):
        return None, not_shared("This link does not share that image.")
    if not thumbnail and not link.allow_download:
        return None, not_shared("This link shares thumbnails only.")
    return link, None


@require_GET
def shared_source_file(request, token, source_id, thumbnail=False):
    link, refused = open_for_file(request, token, lambda link: link.grants_source(source_id), thumbnail)
    if refused:
        return refused
    return file_answer(request, get_object_or_404(Source, pk=source_id), thumbnail, send=send_shared)


@require_GET
def shared_output_file(request, token, output_id, thumbnail=False):
    link, refused = open_for_file(request, token, lambda link: link.grants_output(output_id), thumbnail)
    if refused:
        return refused
    output = get_object_or_404(Output.objects.filter(variation__status=Status.COMPLETED), pk=output_id)
    hides_parameters = not (thumbnail or link.show_parameters)  # thumbnails carry no parameters
    return file_answer(request, output, thumbnail, send=without_parameters if hides_parameters else send_shared)


def without_parameters(field, content_type, download_name=None):
    """An output whose embedded parameters (seed, settings) are taken out, for links that hide them."""
    try:
        with field.open("rb") as stored:
            data = images.strip_parameters(stored.read())
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    response = private(HttpResponse(data, content_type=content_type))
    response["Cache-Control"] = "private, no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    if download_name:
        response["Content-Disposition"] = attachment(download_name)
    return response


@require_GET
def shared_zip(request, token):
    """A shared source gallery as a zip, when the link allows downloads (parameters only if it shows them)."""
    link, refused = open_link(request, token)
    if refused:
        return refused
    if not link.source_id or not link.allow_download:
        return not_shared("This link does not offer a zip.")
    archive = tempfile.TemporaryFile()
    services.write_gallery_archive(link.source, archive, with_parameters=link.show_parameters)
    archive.seek(0)
    response = FileResponse(archive, as_attachment=True, filename=f"shared-{link.source.sha256[:12]}.zip", content_type="application/zip")
    return private(response)
