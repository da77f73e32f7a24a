"""The JSON API fuzzed from its own schema (schemathesis): no 5xx, and every answer matches /api/v1/openapi.json.

Each operation gets FLUXSITE_API_FUZZ_EXAMPLES generated requests (25 in `make test`), valid and invalid,
sent through the WSGI app with alice's token; half of the ids in them are swapped for ones that exist,
so the success paths are fuzzed too and not only the 404s.
"""

import os
import random

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import make_image
from variations.services import sources
from variations.services import jobs as job_services
from variations.params import VariationParams

EXAMPLES = int(os.environ.get("FLUXSITE_API_FUZZ_EXAMPLES", "25"))
# Everything `schemathesis run --checks all` checks on one request: no 5xx; every status, content type,
# header and body as documented; a request the schema allows is accepted, one it forbids refused.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, positive_data_acceptance, negative_data_rejection]
# The one exception to "allowed is accepted": no schema can say that uploaded bytes must be an image.
BYTES_MUST_BE_AN_IMAGE = ("POST", "/api/v1/sources")


def refused_beyond_the_schema(case):
    """What the schema allows but the API rightly refuses with a 400 no schema can express: bytes that are
    no image, and a date range that ends before it starts."""
    if (case.method.upper(), case.operation.path) == BYTES_MUST_BE_AN_IMAGE:
        return True
    query = case.query or {}
    return bool(query.get("date_from") and query.get("date_to") and str(query["date_to"]) < str(query["date_from"]))


@pytest.fixture(autouse=True)
def connections_kept_open():
    """Requests go straight to the WSGI app, not through Django's test client, so the end of each
    request (and the start of the next) would close the connection holding the test's transaction (PostgreSQL with
    CONN_MAX_AGE). The test client disconnects the same handler for the same reason."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def known(db, member):
    """A source and a job of alice's, so generated requests can name things that exist."""
    source = sources.store_source(make_image(size=(320, 240)), user=member)[0]
    job = job_services.create_variation(source, VariationParams(), member)
    return {"source": str(source.pk), "source_id": str(source.pk), "job_id": str(job.pk)}


# Loaded when the tests are collected: making the schema reads no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@schema.parametrize()
@hypothesis_settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_every_request_as_its_schema_says(case, member_token, known, settings):
    settings.ALLOWED_HOSTS = ["*"]  # schemathesis sends its own Host header
    dice = random.Random(repr(case.body) + repr(case.path_parameters))
    # Only valid requests get real ids: swapped into an invalid one they could mend what made it invalid.
    if case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE:
        for name in case.path_parameters or {}:
            if name in known and dice.random() < 0.5:
                case.path_parameters[name] = known[name]
        if isinstance(case.body, dict) and "source" in case.body and dice.random() < 0.5:
            case.body["source"] = known["source"]
    checks = [check for check in CHECKS if not (check is positive_data_acceptance and refused_beyond_the_schema(case))]

    # Its WSGI transport asks for gzip but does not decode it, as an HTTP client would; compression has its own tests.
    headers = {"Authorization": f"Bearer {member_token}", "Accept-Encoding": "identity"}
    case.call_and_validate(headers=headers, checks=checks)


# --- what the fuzzing found, pinned down -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_huge_page_number_is_a_400_not_an_overflow_in_sql(api):
    response = api.get("/api/v1/variations?page=24125878985439219712")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["page"]


@pytest.mark.django_db
def test_every_operation_documents_bad_input_and_missing_credentials(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]

    for path, operations in paths.items():
        for method, operation in operations.items():
            assert {"400", "401"} <= set(operation["responses"]), f"{method.upper()} {path}"
