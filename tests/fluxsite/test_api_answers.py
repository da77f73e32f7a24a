"""Everything under /api/ answers JSON in the documented shapes, even when Django refuses the request
before any operation: wrong tokens are 401 (not a CSRF failure), unreadable or oversized bodies 400/413."""

import json

import pytest
from django.test import Client

from team.models import ApiToken
from tests.factories import make_image

pytestmark = pytest.mark.django_db


def browser_like(**headers):
    """A client that enforces CSRF as a browser's requests meet it."""
    return Client(enforce_csrf_checks=True, **headers)


@pytest.mark.parametrize("token", ["fxs_not-a-real-token", "revoked"])
def test_a_wrong_or_revoked_token_is_a_401_on_every_method(member, completed_job, token):
    if token == "revoked":
        row, token = ApiToken.issue(member, "old")
        row.delete()
    client = browser_like(HTTP_AUTHORIZATION=f"Bearer {token}")

    answers = [
        client.post("/api/v1/variations", json.dumps({"source": str(completed_job.source_id)}), content_type="application/json"),
        client.delete(f"/api/v1/variations/{completed_job.pk}"),
        client.post("/api/v1/shares", json.dumps({"source": str(completed_job.source_id)}), content_type="application/json"),
        client.get("/api/v1/variations"),
    ]

    for answer in answers:
        assert answer.status_code == 401 and answer.json() == {"detail": "Unauthorized"}, answer.content


def test_a_session_still_needs_its_csrf_token(member, completed_job):
    client = browser_like()
    client.force_login(member)

    answer = client.delete(f"/api/v1/variations/{completed_job.pk}")

    assert answer.status_code == 403 and "CSRF" in answer.json()["detail"]


def multipart(filename, data):
    return (b'--XyZ\r\nContent-Disposition: form-data; name="image"; filename="' + filename.encode()
            + b'"\r\nContent-Type: image/jpeg\r\n\r\n' + data + b"\r\n--XyZ--\r\n")


def test_an_over_long_file_name_is_a_json_400(api):
    answer = api.post("/api/v1/sources", multipart("a" * 2000 + ".jpg", make_image()), content_type="multipart/form-data; boundary=XyZ")

    assert answer.status_code == 400 and answer["Content-Type"].startswith("application/json")
    assert "cannot be read" in answer.json()["detail"]


def test_a_body_over_the_limit_is_a_json_413(api, settings, source):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000

    answer = api.post("/api/v1/variations", json.dumps({"source": str(source.pk), "size": "x" * 20_000}), content_type="application/json")

    assert answer.status_code == 413 and answer.json() == {"detail": "The request body is over the size limit."}


def test_too_many_form_fields_are_a_json_400(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5

    answer = api.post("/api/v1/sources", {f"field{n}": "x" for n in range(20)})

    assert answer.status_code == 400 and answer["Content-Type"].startswith("application/json")


def test_djangos_own_refusals_under_the_api_are_json_and_the_pages_keep_html(api, signed_in, settings):
    settings.ALLOWED_HOSTS = ["*"]
    malformed_host = api.get("/api/v1/sources", HTTP_HOST="not a host!")  # refused before any view runs
    assert malformed_host.status_code == 400 and malformed_host.json() == {"detail": "Bad request."}
    unknown = api.get("/api/v1/no-such-thing")
    assert unknown.status_code == 404 and unknown["Content-Type"] == "application/json"
    page = signed_in.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_the_schema_documents_413_for_operations_with_a_body(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]

    assert "413" in paths["/api/v1/sources"]["post"]["responses"]
    assert "413" not in paths["/api/v1/variations"]["get"]["responses"]


# --- strict types, and a schema that says exactly what is accepted ------------------------------------------------


@pytest.mark.parametrize("loose", [{"num_inference_steps": True}, {"num_inference_steps": "28"}, {"num_images": "2"}, {"enable_safety_checker": 1}])
def test_loose_json_types_are_refused_naming_the_field(api, source, loose):
    answer = api.post("/api/v1/variations", json.dumps({"source": str(source.pk), **loose}), content_type="application/json")

    assert answer.status_code == 400
    assert list(answer.json()["errors"]) == list(loose)


@pytest.mark.parametrize("body, field", [
    ({"board": True}, "board"), ({"expires_in_days": "7"}, "expires_in_days"), ({"allow_download": "yes"}, "allow_download"),
])
def test_share_options_are_strict_too(api, source, body, field):
    answer = api.post("/api/v1/shares", json.dumps({"source": str(source.pk), **body}), content_type="application/json")

    assert answer.status_code == 400 and field in answer.json()["errors"]


@pytest.mark.parametrize("body", [{}, {"source": None, "board": 1}, {"board": None}])
def test_a_share_names_exactly_one_of_source_and_board_and_neither_is_null(api, body):
    assert api.post("/api/v1/shares", json.dumps(body), content_type="application/json").status_code == 400


def test_the_schema_says_exactly_what_is_accepted(client):
    schema = client.get("/api/v1/openapi.json").json()
    components, paths = schema["components"]["schemas"], schema["paths"]

    assert components["VariationIn"]["properties"]["size"]["pattern"].startswith("^(?:25[6-9]")
    assert components["ShareIn"]["oneOf"] == [{"required": ["source"]}, {"required": ["board"]}]
    assert components["ShareIn"]["properties"]["board"] == {"maximum": 2**63 - 1, "minimum": 1, "title": "Board", "type": "integer"}
    status = next(p for p in paths["/api/v1/variations"]["get"]["parameters"] if p["name"] == "status")
    assert sorted(status["schema"]["anyOf"][0]["enum"]) == ["cancelled", "completed", "failed", "processing", "queued"]
    overrides = components["VariationOverrides"]["properties"]
    assert overrides["num_images"]["anyOf"][0] == {"maximum": 4, "minimum": 1, "type": "integer"}


def test_the_schema_names_each_answer_once(client):
    """A key written twice (ninja's 400 beside the added "400") is valid to Python but not to the
    docs page's YAML reader, which then shows nothing."""
    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), keys
        return dict(pairs)

    json.loads(client.get("/api/v1/openapi.json").content, object_pairs_hook=no_duplicates)


@pytest.mark.parametrize("body", [{"items": [False]}, {"items": ["3"]}])
def test_board_item_ids_are_numbers_not_booleans_or_text(api, member, body):
    board = api.post("/api/v1/boards", json.dumps({"name": "Picks"}), content_type="application/json").json()

    answer = api.put(f"/api/v1/boards/{board['id']}/items/order", json.dumps(body), content_type="application/json")

    assert answer.status_code == 400 and "items.0" in answer.json()["errors"]
