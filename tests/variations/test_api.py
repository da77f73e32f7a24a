"""The JSON API under /api/v1/: authentication, variations (create, read, list, rerun, cancel) and the schema."""

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from tests.factories import make_image
from variations.services import sources
from fluxsite.api import api as ninja_api
from team.models import ApiToken
from variations.models import Output, Status, Variation
from variations.params import SEED_MAX

ZERO_ID = "00000000-0000-0000-0000-000000000000"
VARIATION_FIELDS = {
    "id", "source", "status", "size", "num_inference_steps", "seed", "guidance_scale", "num_images",
    "enable_safety_checker", "output_format", "outputs", "error", "prediction_id", "created_at",
    "submitted_at", "completed_at", "inference_ms", "rerun_of",
}  # as the API section of the pipeline issue lists them


@pytest.fixture(autouse=True)
def wake():
    """The dispatcher is not started by these tests: only whether it would be woken is checked."""
    with mock.patch("variations.services.jobs.wake_dispatcher") as wake_dispatcher:
        yield wake_dispatcher


@pytest.fixture
def other_source(member):
    return sources.store_source(make_image("PNG", size=(300, 300), color=(1, 2, 3)), user=member)[0]


def make_job(source, owner=None, status=Status.QUEUED, **fields):
    values = {"seed": 1234, **fields}
    return Variation.objects.create(source=source, owner=owner, status=status, **values)


def post_json(client, url, data, **extra):
    body = data if isinstance(data, str) else json.dumps(data)
    return client.post(url, body, content_type="application/json", **extra)


def create(api, django_capture_on_commit_callbacks, **data):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_json(api, "/api/v1/variations", data)
    return response, callbacks


# --- authentication ---------------------------------------------------------------------------------


def endpoints(source, job):
    return [
        ("post", "/api/v1/sources"),
        ("get", f"/api/v1/sources/{source.pk}"),
        ("post", "/api/v1/variations"),
        ("get", "/api/v1/variations"),
        ("get", f"/api/v1/variations/{job.pk}"),
        ("post", f"/api/v1/variations/{job.pk}/rerun"),
        ("post", f"/api/v1/variations/{job.pk}/cancel"),
    ]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer fxs_wrong-token", "Bearer ", "Token something", "Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQtMQ=="],
    ids=["none", "wrong-token", "empty-token", "other-scheme", "basic"],
)
def test_every_endpoint_refuses_requests_without_valid_credentials(source, member, authorization):
    job = make_job(source, member)
    client = Client(HTTP_AUTHORIZATION=authorization) if authorization else Client()

    for method, url in endpoints(source, job):
        response = client.get(url) if method == "get" else post_json(client, url, {})
        assert response.status_code == 401, (method, url)

    assert Variation.objects.count() == 1
    assert Variation.objects.get().status == Status.QUEUED


def test_token_of_a_deactivated_user_is_refused(api, member):
    member.is_active = False
    member.save()

    assert api.get("/api/v1/variations").status_code == 401


def test_token_works_and_records_its_use(api, member):
    assert api.get("/api/v1/variations").status_code == 200
    assert ApiToken.objects.get(user=member).last_used_at is not None


def test_bearer_scheme_is_case_insensitive(member_token):
    assert Client(HTTP_AUTHORIZATION=f"bearer {member_token}").get("/api/v1/variations").status_code == 200


def test_session_works_for_reading(source, colleague):
    job = make_job(source, colleague)
    client = Client(enforce_csrf_checks=True)
    client.force_login(colleague)

    assert client.get("/api/v1/variations").status_code == 200
    assert client.get(f"/api/v1/variations/{job.pk}").status_code == 200
    assert client.get(f"/api/v1/sources/{source.pk}").status_code == 200


def test_session_post_without_csrf_token_is_refused(source, colleague):
    client = Client(enforce_csrf_checks=True)
    client.force_login(colleague)

    response = post_json(client, "/api/v1/variations", {"source": str(source.pk)})

    assert response.status_code == 403
    assert Variation.objects.count() == 0


def test_session_post_with_csrf_token_is_accepted(source, colleague):
    client = Client(enforce_csrf_checks=True)
    client.force_login(colleague)
    csrf = "c" * 32
    client.cookies["csrftoken"] = csrf

    response = post_json(client, "/api/v1/variations", {"source": str(source.pk)}, HTTP_X_CSRFTOKEN=csrf)

    assert response.status_code == 201
    assert Variation.objects.get().owner == colleague


def test_token_post_needs_no_csrf_token(source, member_token, member):
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {member_token}")

    response = post_json(client, "/api/v1/variations", {"source": str(source.pk)})

    assert response.status_code == 201
    assert Variation.objects.get().owner == member


# --- create -----------------------------------------------------------------------------------------


def test_create_with_defaults_records_a_concrete_seed(api, source, member, wake, django_capture_on_commit_callbacks):
    response, callbacks = create(api, django_capture_on_commit_callbacks, source=str(source.pk))

    assert response.status_code == 201
    body = response.json()
    assert set(body) >= VARIATION_FIELDS
    assert body["status"] == "queued"
    assert body["source"] == str(source.pk)
    assert (body["size"], body["num_inference_steps"], body["guidance_scale"]) == ("1024*1024", 28, 3.5)
    assert (body["num_images"], body["enable_safety_checker"], body["output_format"]) == (1, True, "jpeg")
    assert isinstance(body["seed"], int) and 0 <= body["seed"] <= SEED_MAX
    job = Variation.objects.get(pk=body["id"])
    assert job.seed == body["seed"]
    assert job.owner == member
    assert (body["outputs"], body["prediction_id"], body["rerun_of"]) == ([], "", None)
    assert len(callbacks) == 1
    wake.assert_called_once_with()


def test_create_records_every_parameter_given(api, source, django_capture_on_commit_callbacks):
    params = {"size": "768*512", "num_inference_steps": 12, "seed": 99, "guidance_scale": 7.0, "num_images": 4,
              "enable_safety_checker": False, "output_format": "png"}

    response, _ = create(api, django_capture_on_commit_callbacks, source=str(source.pk), **params)

    assert response.status_code == 201
    assert Variation.objects.get(pk=response.json()["id"]).params() == params


def test_create_with_seed_minus_one_records_a_concrete_seed(api, source, django_capture_on_commit_callbacks):
    response, _ = create(api, django_capture_on_commit_callbacks, source=str(source.pk), seed=-1)

    assert 0 <= response.json()["seed"] <= SEED_MAX
    assert Variation.objects.get().seed == response.json()["seed"]


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"size": "2000*1024"}, "size"),
        ({"size": "big"}, "size"),
        ({"num_inference_steps": 0}, "num_inference_steps"),
        ({"seed": -5}, "seed"),
        ({"guidance_scale": 25}, "guidance_scale"),
        ({"num_images": 5}, "num_images"),
        ({"output_format": "gif"}, "output_format"),
        ({"prompt": "a cat"}, "prompt"),
        ({"source": "not-a-uuid"}, "source"),
    ],
)
def test_create_with_invalid_input_names_the_field(api, source, wake, changes, field, django_capture_on_commit_callbacks):
    response, callbacks = create(api, django_capture_on_commit_callbacks, **{"source": str(source.pk), **changes})

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [field]
    assert all(isinstance(message, str) and message for message in errors[field])
    assert Variation.objects.count() == 0
    assert not callbacks and not wake.called


def test_create_without_a_source_is_refused(api, db):
    response = post_json(api, "/api/v1/variations", {"size": "512*512"})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["source"]


def test_create_with_an_unknown_source_is_404(api, db):
    response = post_json(api, "/api/v1/variations", {"source": ZERO_ID})

    assert response.status_code == 404
    assert response.json()["detail"]
    assert Variation.objects.count() == 0


@pytest.mark.parametrize("body", ["{not json", "", "[1, 2]", '"text"', "null"], ids=["malformed", "empty", "list", "string", "null"])
def test_create_with_a_body_that_is_not_an_object_is_400(api, source, body):
    response = post_json(api, "/api/v1/variations", body)

    assert response.status_code == 400
    assert Variation.objects.count() == 0


# --- read -------------------------------------------------------------------------------------------


@pytest.fixture
def png_job(source, member):
    """A finished PNG job whose outputs are in the app's storage (WaveSpeed's URLs kept only for the record)."""
    now = timezone.now()
    job = make_job(
        source, member, status=Status.COMPLETED, num_images=2, output_format="png", seed=77,
        prediction_id="pred-123", submitted_at=now - timedelta(seconds=9), completed_at=now, inference_ms=4200,
        remote_output_urls=["https://d1q70pf5vjeyhc.cloudfront.net/a.png", "https://cdn.wavespeed.ai/b.png"],
        remote_nsfw=[False, True],
    )
    for index, nsfw in enumerate([False, True]):
        output = Output(variation=job, index=index, width=1024, height=1024, format="PNG", nsfw=nsfw, byte_size=10)
        output.image.save("output", ContentFile(make_image("PNG", size=(64, 64))), save=False)
        output.thumbnail.save("thumbnail", ContentFile(make_image("WEBP", size=(32, 32))), save=False)
        output.save()
    return job


def test_get_one_shows_the_documented_fields(api, png_job):
    response = api.get(f"/api/v1/variations/{png_job.pk}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) >= VARIATION_FIELDS
    assert body["status"] == "completed"
    assert (body["seed"], body["prediction_id"], body["inference_ms"]) == (77, "pred-123", 4200)
    assert body["submitted_at"] and body["completed_at"] and body["created_at"]
    assert [(o["width"], o["height"], o["nsfw"]) for o in body["outputs"]] == [(1024, 1024, False), (1024, 1024, True)]


def test_output_urls_point_at_the_app_never_at_wavespeed(api, png_job):
    outputs = api.get(f"/api/v1/variations/{png_job.pk}").json()["outputs"]

    for output in outputs:
        for url in (output["url"], output["thumbnail_url"]):
            assert url.startswith("http://testserver/media/outputs/")
            assert "wavespeed" not in url and "cloudfront" not in url
        image = api.get(output["url"])
        assert image.status_code == 200 and image["Content-Type"] == "image/png"
        thumbnail = api.get(output["thumbnail_url"])
        assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/webp"
        assert Client().get(output["url"]).status_code == 401


@pytest.mark.parametrize(
    "status,public",
    [(Status.QUEUED, "queued"), (Status.SUBMITTING, "queued"), (Status.PROCESSING, "processing"),
     (Status.STORING, "processing"), (Status.FAILED, "failed"), (Status.CANCELLED, "cancelled")],
)
def test_internal_steps_show_as_the_five_public_statuses(api, source, status, public):
    job = make_job(source, status=status)

    assert api.get(f"/api/v1/variations/{job.pk}").json()["status"] == public


def test_failed_job_shows_its_error(api, source):
    job = make_job(source, status=Status.FAILED, error="WaveSpeed refused the job: bad size", error_code="bad_request")

    body = api.get(f"/api/v1/variations/{job.pk}").json()

    assert body["error"] == "WaveSpeed refused the job: bad size"
    assert body["error_code"] == "bad_request"


def test_get_unknown_or_malformed_id(api, db):
    assert api.get(f"/api/v1/variations/{ZERO_ID}").status_code == 404
    response = api.get("/api/v1/variations/not-a-uuid")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["job_id"]


# --- list -------------------------------------------------------------------------------------------


def test_list_is_newest_first_and_paginated(api, source):
    start = timezone.now() - timedelta(hours=1)
    jobs = [make_job(source, created_at=start + timedelta(minutes=i)) for i in range(23)]
    newest_first = [str(job.pk) for job in reversed(jobs)]

    first = api.get("/api/v1/variations").json()
    second = api.get("/api/v1/variations?page=2").json()

    assert first["count"] == second["count"] == 23
    assert [item["id"] for item in first["items"]] == newest_first[:20]
    assert [item["id"] for item in second["items"]] == newest_first[20:]


def test_list_filters_by_source_and_status(api, source, other_source):
    queued = make_job(source)
    submitting = make_job(source, status=Status.SUBMITTING)
    done = make_job(source, status=Status.COMPLETED)
    elsewhere = make_job(other_source)

    def ids(query):
        response = api.get(f"/api/v1/variations?{query}")
        assert response.status_code == 200
        return {item["id"] for item in response.json()["items"]}

    assert ids(f"source={source.pk}") == {str(queued.pk), str(submitting.pk), str(done.pk)}
    assert ids("status=queued") == {str(queued.pk), str(submitting.pk), str(elsewhere.pk)}
    assert ids(f"status=queued&source={other_source.pk}") == {str(elsewhere.pk)}
    assert ids("status=completed") == {str(done.pk)}
    assert ids("status=failed") == set()


@pytest.mark.parametrize("query,field", [("status=bogus", "status"), ("status=submitting", "status"), ("source=xyz", "source"), ("page=0", "page")])
def test_list_with_bad_filters_is_400(api, db, query, field):
    response = api.get(f"/api/v1/variations?{query}")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


# --- rerun ------------------------------------------------------------------------------------------


@pytest.fixture
def original(source, member):
    return make_job(source, member, status=Status.COMPLETED, size="768*512", num_inference_steps=20, seed=5,
                    guidance_scale=6.0, num_images=2, enable_safety_checker=False, output_format="png")


def rerun(api, job, body, callbacks_capture):
    with callbacks_capture(execute=True) as callbacks:
        response = post_json(api, f"/api/v1/variations/{job.pk}/rerun", body)
    return response, callbacks


def test_rerun_without_body_keeps_parameters_and_draws_a_new_seed(api, original, colleague, wake, monkeypatch,
                                                                  django_capture_on_commit_callbacks):
    monkeypatch.setattr("variations.params.secrets.randbelow", lambda limit: 4242)

    response, callbacks = rerun(api, original, "", django_capture_on_commit_callbacks)

    assert response.status_code == 201
    body = response.json()
    assert body["rerun_of"] == str(original.pk)
    assert body["seed"] == 4242
    assert body["status"] == "queued"
    new = Variation.objects.get(pk=body["id"])
    assert {**new.params(), "seed": original.seed} == original.params()
    assert new.rerun_of == original and new.source == original.source
    assert len(callbacks) == 1 and wake.called


def test_rerun_with_an_empty_object_draws_a_new_seed(api, original, monkeypatch):
    monkeypatch.setattr("variations.params.secrets.randbelow", lambda limit: 4242)

    response = post_json(api, f"/api/v1/variations/{original.pk}/rerun", {})

    assert response.json()["seed"] == 4242


def test_rerun_with_seed_override_uses_that_seed(api, original):
    response = post_json(api, f"/api/v1/variations/{original.pk}/rerun", {"seed": 5, "guidance_scale": 2.5})

    assert response.status_code == 201
    new = Variation.objects.get(pk=response.json()["id"])
    assert (new.seed, new.guidance_scale, new.size) == (5, 2.5, "768*512")


@pytest.mark.parametrize(
    "overrides,field",
    [({"seed": -7}, "seed"), ({"size": "99*99"}, "size"), ({"num_images": 9}, "num_images"),
     ({"num_images": "many"}, "num_images"), ({"output_format": "bmp"}, "output_format"), ({"bogus": 1}, "bogus")],
)
def test_rerun_with_invalid_override_is_400(api, original, overrides, field):
    response = post_json(api, f"/api/v1/variations/{original.pk}/rerun", overrides)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert Variation.objects.count() == 1


def test_rerun_of_an_unknown_job_is_404(api, db):
    assert post_json(api, f"/api/v1/variations/{ZERO_ID}/rerun", {}).status_code == 404


# --- cancel -----------------------------------------------------------------------------------------


def test_cancel_a_queued_job(api, source, member):
    job = make_job(source, member)

    response = api.post(f"/api/v1/variations/{job.pk}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.completed_at is not None
    assert not job.delete_pending  # nothing at WaveSpeed to delete


def test_cancel_a_job_at_wavespeed_asks_the_dispatcher_to_delete_it(api, source, member, wake, django_capture_on_commit_callbacks):
    job = make_job(source, member, status=Status.PROCESSING, prediction_id="pred-9")

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/variations/{job.pk}/cancel")

    assert response.json()["status"] == "cancelled"
    job.refresh_from_db()
    assert job.delete_pending
    assert wake.called


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.FAILED, Status.STORING])
def test_cancel_a_finished_job_is_409(api, source, member, status):
    job = make_job(source, member, status=status)

    response = api.post(f"/api/v1/variations/{job.pk}/cancel")

    assert response.status_code == 409
    assert "can no longer be cancelled" in response.json()["detail"]
    job.refresh_from_db()
    assert job.status == status


def test_cancel_twice_is_harmless(api, source, member):
    job = make_job(source, member)
    api.post(f"/api/v1/variations/{job.pk}/cancel")

    response = api.post(f"/api/v1/variations/{job.pk}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_cancel_an_unknown_job_is_404(api, db):
    assert api.post(f"/api/v1/variations/{ZERO_ID}/cancel").status_code == 404


# --- schema -----------------------------------------------------------------------------------------


def test_openapi_lists_every_endpoint_with_its_authentication(client, db):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    operations = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert operations >= {
        ("/api/v1/sources", "post"),
        ("/api/v1/sources/{source_id}", "get"),
        ("/api/v1/variations", "post"),
        ("/api/v1/variations", "get"),
        ("/api/v1/variations/{job_id}", "get"),
        ("/api/v1/variations/{job_id}/rerun", "post"),
        ("/api/v1/variations/{job_id}/cancel", "post"),
    }
    not_endpoints = {"openapi-json", "openapi-view", "api-root"}
    routed = {pattern.pattern._route for pattern in ninja_api.urls[0] if pattern.name not in not_endpoints}
    documented = {path.removeprefix("/api/v1/").replace("{", "<").replace("}", ">") for path in schema["paths"]}
    assert documented == routed  # nothing routed is missing from the schema
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation.get("security"), (path, method)
    assert {"BearerToken", "SessionAuth"} <= set(schema["components"]["securitySchemes"])


def test_source_upload_is_documented_as_multipart(client, db):
    operation = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/sources"]["post"]

    assert "image" in json.dumps(operation["requestBody"]["content"]["multipart/form-data"])
