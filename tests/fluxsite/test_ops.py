"""/healthz and /metrics: what they report, and who may read the metrics."""

import io
import ipaddress
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import make_job, make_source
from fluxsite.ops import health
from variations.connection import report_wavespeed_errors
import wavespeed_api as wavespeed
from variations.models import Status, Variation, WaveSpeedErrorCount

pytestmark = pytest.mark.django_db


def samples(text):
    """{(sample name, frozenset of labels): value} of a Prometheus text answer."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def metrics_token(settings):
    settings.FLUXSITE_METRICS_TOKEN = "scrape-secret"
    return "scrape-secret"


# --- /healthz -------------------------------------------------------------------------------------------


def test_healthz_reports_each_service_and_answers_200_when_all_are_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "storage"}
    assert all(check["ok"] for check in body["checks"].values())
    assert response["Cache-Control"] == "no-store"


def test_healthz_answers_503_and_names_the_failing_service_without_its_error_text(client, monkeypatch):
    def database_down():
        raise ConnectionError("could not connect to db.internal as fluxsite:secret")

    monkeypatch.setitem(health.CHECKS, "database", database_down)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {"ok": False, "error": "ConnectionError", "ms": body["checks"]["database"]["ms"]}
    assert body["checks"]["storage"]["ok"] is True
    assert "secret" not in response.content.decode()


def test_healthz_fails_when_the_media_folder_is_not_writable(client, settings, monkeypatch):
    monkeypatch.setattr(health.os, "access", lambda path, mode: False)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["error"] == "PermissionError"


def test_a_media_folder_not_made_yet_is_healthy_when_it_can_be_made(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "not" / "yet" / "media"
    assert client.get("/healthz").status_code == 200


def test_healthz_checks_redis_when_it_is_the_broker(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    health._redis.__dict__.clear()
    try:
        response = client.get("/healthz")
    finally:
        health._redis.__dict__.clear()
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


def test_healthz_and_metrics_answer_any_host_name_and_plain_http(client, settings, metrics_token):
    """Probes reach a container by IP or service name; the HTTPS redirect and host check come later."""
    settings.ALLOWED_HOSTS = ["studio.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz", HTTP_HOST="10.0.3.7:8000").status_code == 200
    assert client.get("/metrics", HTTP_HOST="web:8000", HTTP_AUTHORIZATION=f"Bearer {metrics_token}").status_code == 200
    assert client.get("/api/v1/openapi.json", HTTP_HOST="10.0.3.7:8000").status_code == 400  # everything else is checked


def test_healthz_refuses_other_methods(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


# --- who may read /metrics ----------------------------------------------------------------------------


def test_metrics_are_off_until_a_token_or_network_is_set(client):
    response = client.get("/metrics")
    assert response.status_code == 404
    assert b"FLUXSITE_METRICS_TOKEN" in response.content


def test_metrics_need_the_bearer_token(client, metrics_token):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics")["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}x").status_code == 401
    ok = client.get("/metrics", HTTP_AUTHORIZATION=f"bearer {metrics_token}")
    assert ok.status_code == 200
    assert ok["Content-Type"].startswith("text/plain; version=")


def test_a_signed_in_admin_is_no_substitute_for_the_token(client, member, metrics_token):
    member.is_staff = member.is_superuser = True
    member.save()
    client.force_login(member)
    assert client.get("/metrics").status_code == 401


def test_metrics_are_open_to_the_allowed_networks_only(client, settings):
    settings.FLUXSITE_METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.5").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="not-an-address").status_code == 403


# --- what /metrics says --------------------------------------------------------------------------------


def test_metrics_count_jobs_in_flight_outputs_and_histograms_from_the_database(client, member, metrics_token):
    source = make_source(member)
    make_job(source, member, Status.COMPLETED, outputs=2, created_at=timezone.now() - timedelta(minutes=5))  # waited 1 s, 2.5 s inference
    make_job(source, member, Status.COMPLETED, outputs=1)
    make_job(source, member, Status.PROCESSING)
    make_job(source, member, Status.SUBMITTING)
    make_job(source, member, Status.QUEUED)
    make_job(source, member, Status.FAILED)
    slow = make_job(source, member, Status.COMPLETED, outputs=1)
    Variation.objects.filter(pk=slow.pk).update(submitted_at=slow.created_at + timedelta(seconds=45), inference_ms=40_000)

    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}").content.decode()
    values = samples(text)

    def value(name, **labels):
        return values[(name, frozenset(labels.items()))]

    assert value("fluxsite_jobs", status="completed") == 3
    assert value("fluxsite_jobs", status="processing") == 1
    assert value("fluxsite_jobs", status="queued") == 1
    assert value("fluxsite_jobs", status="storing") == 0
    assert value("fluxsite_predictions_in_flight") == 2  # submitting + processing
    assert value("fluxsite_outputs_stored") == 4
    assert value("fluxsite_outputs_stored_bytes") > 0
    # Queue wait: every submitted job (6) waited 1 s but the slow one, 45 s.
    assert value("fluxsite_queue_wait_seconds_count") == 6
    assert value("fluxsite_queue_wait_seconds_bucket", le="1.0") == 5
    assert value("fluxsite_queue_wait_seconds_bucket", le="30.0") == 5
    assert value("fluxsite_queue_wait_seconds_bucket", le="60.0") == 6
    assert value("fluxsite_queue_wait_seconds_bucket", le="+Inf") == 6
    assert value("fluxsite_queue_wait_seconds_sum") == pytest.approx(5 * 1 + 45)
    # Inference: two of 2.5 s, one of 40 s.
    assert value("fluxsite_inference_seconds_count") == 3
    assert value("fluxsite_inference_seconds_bucket", le="2.0") == 0
    assert value("fluxsite_inference_seconds_bucket", le="3.0") == 2
    assert value("fluxsite_inference_seconds_bucket", le="30.0") == 2
    assert value("fluxsite_inference_seconds_bucket", le="60.0") == 3
    assert value("fluxsite_inference_seconds_sum") == pytest.approx(45.0)


def test_wavespeed_errors_by_kind_add_up_across_processes(client, metrics_token):
    wavespeed.take_error_tally()  # start from nothing in this process
    wavespeed.RateLimited("429")
    wavespeed.RateLimited("429")
    wavespeed.ServerError("502")
    report_wavespeed_errors()
    WaveSpeedErrorCount.objects.filter(kind="rate_limited").update(count=10)  # what other processes added
    wavespeed.RateLimited("429")
    report_wavespeed_errors()
    report_wavespeed_errors()  # nothing new: nothing added

    values = samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}").content.decode())
    assert values[("fluxsite_wavespeed_errors_total", frozenset({("kind", "rate_limited")}))] == 11
    assert values[("fluxsite_wavespeed_errors_total", frozenset({("kind", "server_error")}))] == 1


def test_metrics_show_this_months_estimated_cost(client, member, metrics_token):
    job = make_job(make_source(member), member, Status.COMPLETED)
    Variation.objects.filter(pk=job.pk).update(prediction_id="p1", cost_usd=Decimal("0.025"))
    values = samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}").content.decode())
    assert values[("fluxsite_estimated_cost_this_month_usd", frozenset())] == pytest.approx(0.025)


def test_a_scrape_costs_a_fixed_number_of_queries(client, member, metrics_token, django_assert_max_num_queries):
    source = make_source(member)
    for _ in range(5):
        make_job(source, member, Status.COMPLETED)
    with django_assert_max_num_queries(8):
        client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}")


def test_healthz_asks_an_object_storage_bucket_at_most_every_half_minute(client, settings, monkeypatch):
    from django.core.files.storage import default_storage

    from tests.fluxsite.test_media_object_storage import S3_OPTIONS

    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": S3_OPTIONS}}
    asked = []

    def head_bucket(Bucket):
        asked.append(Bucket)
        raise ConnectionError("bucket unreachable")

    monkeypatch.setattr(default_storage.connection.meta.client, "head_bucket", head_bucket)
    monkeypatch.setattr(health, "_bucket_checked", {"at": float("-inf"), "error": None})
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first.status_code == second.status_code == 503
    assert second.json()["checks"]["storage"]["error"] == "ConnectionError"
    assert asked == ["studio-media"]  # the second answer came from the last check


# --- the container health check -----------------------------------------------------------------------


def test_the_health_command_exits_0_when_healthy_and_1_when_not(monkeypatch):
    out = io.StringIO()
    call_command("health", stdout=out)
    assert json.loads(out.getvalue())["database"]["ok"] is True

    monkeypatch.setitem(health.CHECKS, "storage", lambda: (_ for _ in ()).throw(OSError("disk gone")))
    with pytest.raises(CommandError) as failed:
        call_command("health", stdout=io.StringIO())
    assert failed.value.returncode == 1


def test_the_worker_health_check_needs_this_hosts_cluster_when_redis_is_the_broker(settings, monkeypatch):
    from fluxsite.management.commands import health as command

    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    monkeypatch.setitem(health.CHECKS, "broker", lambda: None)
    monkeypatch.setattr(command, "local_cluster_running", lambda: False)
    with pytest.raises(CommandError):
        call_command("health", "--worker", stdout=io.StringIO())
    monkeypatch.setattr(command, "local_cluster_running", lambda: True)
    out = io.StringIO()
    call_command("health", "--worker", stdout=out)
    assert json.loads(out.getvalue())["cluster"] == {"ok": True}
