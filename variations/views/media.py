"""Media files, served only to whoever may see them: never from a public /media/ folder.

/media/... needs a session or an API token. Share links serve their own files through the same
answers (sharing.views.media).
"""

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from team.api import BearerToken

from ..models import Output, Source


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
