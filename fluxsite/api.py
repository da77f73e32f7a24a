"""The JSON API root under /api/v1/: each app's router mounted on one NinjaAPI, which also writes
/api/v1/openapi.json from their schemas, with the answers every operation shares."""

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import ValidationError

from sharing.api import router as shares_router
from sharing.api_boards import router as boards_router
from sharing.api_picks import router as picks_router
from team.api import requires
from variations.api import router as variations_router
from variations.api_selection import router as selection_router
from variations.params import errors_by_field


class DocumentedAPI(NinjaAPI):
    """NinjaAPI whose schema also lists the answers any operation can give besides its own: 401 without
    valid credentials, and 400 when a parameter does not validate ({errors}) or the body cannot be parsed
    at all ({detail}, ninja's own answer). Found by fuzzing the schema (tests/fluxsite/test_fuzz_api.py)."""

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        errors, detail = ({"$ref": f"#/components/schemas/{name}"} for name in ("ErrorsOut", "DetailOut"))
        for operations in schema["paths"].values():
            for operation in operations.values():
                # ninja keys the operation's own answers by number: as text, so "400" below replaces
                # its 400 instead of standing beside it (a key twice in the JSON breaks the docs page).
                responses = operation["responses"] = {str(code): answer for code, answer in operation["responses"].items()}
                responses["400"] = {
                    "description": "Bad Request",
                    "content": {"application/json": {"schema": {"anyOf": [errors, detail]}}},
                }
                responses.setdefault(
                    "401", {"description": "Unauthorized", "content": {"application/json": {"schema": detail}}}
                )
                if "requestBody" in operation:
                    responses["413"] = {
                        "description": "Request body over the size limit",
                        "content": {"application/json": {"schema": detail}},
                    }
        return schema


api = DocumentedAPI(
    title="fluxsite API",
    version="1",
    description="Image variations with FLUX.1 Redux [dev] through WaveSpeed, kept in this app's own storage.",
    urls_namespace="api",
    auth=requires("browse"),  # each operation names what it needs; this covers any that forgets
)


def without_param_source(loc):
    """ninja's error location as the field a client sent: ("body", "payload", "seed") → ("seed",).

    ninja puts where a value came from first (body, query, path, file ...) and, for a body schema,
    the view's parameter name next; neither means anything to the client.
    """
    source, *rest = loc or ("",)
    if source == "body":
        return tuple(rest[1:])
    if source in ("query", "path", "file", "form", "header", "cookie"):
        return tuple(rest)
    return tuple(loc)


@api.exception_handler(ValidationError)
def validation_failed(request, exc):
    errors = [{**error, "loc": without_param_source(error["loc"])} for error in exc.errors]
    return api.create_response(request, {"errors": errors_by_field(errors)}, status=400)

@api.exception_handler(RequestDataTooBig)
def body_too_large(request, exc):
    return api.create_response(request, {"detail": "The request body is over the size limit."}, status=413)


@api.exception_handler(MultiPartParserError)
@api.exception_handler(SuspiciousOperation)
def body_unreadable(request, exc):
    """A body Django will not read (a multipart header over 1 KB, e.g. a very long file name; too many
    fields or files): JSON like every answer under /api/, not the HTML error page."""
    return api.create_response(request, {"detail": f"The request body cannot be read: {exc}"}, status=400)


api.add_router("", variations_router)
api.add_router("/shares", shares_router)
api.add_router("/shares", picks_router)
api.add_router("/boards", boards_router)
api.add_router("/selection", selection_router)
