"""Settings read from the environment: DATABASE_URL, REDIS_URL, S3 storage, the HTTPS proxy, JSON logs.

Each case loads fluxsite.settings in a fresh interpreter, as a server process would at start."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = """
import json
from fluxsite import settings as s
print(json.dumps({
    "database": s.DATABASES["default"], "caches": getattr(s, "CACHES", None), "q": s.Q_CLUSTER,
    "storage": s.STORAGES["default"], "debug": s.DEBUG, "hosts": s.ALLOWED_HOSTS,
    "csrf_origins": s.CSRF_TRUSTED_ORIGINS, "middleware": s.MIDDLEWARE,
    **{name: getattr(s, name, None) for name in (
        "SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "STATIC_ROOT")},
    "log_formatters": s.LOGGING["formatters"], "log_stream": s.LOGGING["handlers"]["console"].get("stream"),
    "metrics_networks": [str(n) for n in s.FLUXSITE_METRICS_ALLOWED_NETWORKS],
    "budget": str(s.FLUXSITE_MONTHLY_BUDGET_USD),
    "s3_client": {name: getattr(s.STORAGES["default"].get("OPTIONS", {}).get("client_config"), name, None)
                  for name in ("s3", "signature_version", "connect_timeout", "retries")},
}, default=str))
"""
PREFIXES = ("DATABASE_", "REDIS_", "FLUXSITE_", "DJANGO_")


def load_settings(tmp_path, **environment):
    """The settings a process started with `environment` (and nothing of ours inherited) would see."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env.update(FLUXSITE_DATA_DIR=str(tmp_path / "data"), DJANGO_SECRET_KEY="settings-test", **environment)
    result = subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(result.stderr.strip().splitlines()[-1])
    return json.loads(result.stdout)


def test_without_urls_the_embedded_default_is_sqlite_with_the_orm_broker(tmp_path):
    s = load_settings(tmp_path)
    assert s["database"]["ENGINE"] == "django.db.backends.sqlite3"
    assert s["database"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert s["q"]["orm"] == "default" and "redis" not in s["q"]
    assert s["caches"] is None  # Django's per-process memory cache
    assert s["storage"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"


def test_database_url_switches_to_postgresql_with_kept_connections(tmp_path):
    s = load_settings(tmp_path, DATABASE_URL="postgres://fluxsite:secret@db.internal:5433/studio")
    db = s["database"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"], db["PASSWORD"]) == ("db.internal", 5433, "studio", "fluxsite", "secret")
    assert db["CONN_MAX_AGE"] == 60 and db["CONN_HEALTH_CHECKS"] is True
    assert db["OPTIONS"]["connect_timeout"] == 5  # /healthz must not hang on a dead database


def test_redis_url_moves_the_broker_and_the_cache_to_redis_under_the_queue_name(tmp_path):
    s = load_settings(tmp_path, REDIS_URL="redis://cache.internal:6379/2", FLUXSITE_QUEUE_NAME="studio-a")
    assert s["q"]["redis"] == "redis://cache.internal:6379/2"
    assert "orm" not in s["q"]
    assert s["q"]["name"] == "studio-a"
    cache = s["caches"]["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == "redis://cache.internal:6379/2"
    assert cache["KEY_PREFIX"] == "studio-a"


def test_an_s3_bucket_moves_media_to_private_object_storage_with_short_signed_urls(tmp_path):
    s = load_settings(
        tmp_path,
        FLUXSITE_S3_BUCKET="studio-media",
        FLUXSITE_S3_ENDPOINT_URL="http://minio:9000",
        FLUXSITE_S3_ACCESS_KEY_ID="minio-user",
        FLUXSITE_S3_SECRET_ACCESS_KEY="minio-secret",
        FLUXSITE_S3_REGION="eu-west-1",
        FLUXSITE_S3_ADDRESSING_STYLE="path",
    )
    storage = s["storage"]
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    options = storage["OPTIONS"]
    assert options["bucket_name"] == "studio-media"
    assert options["endpoint_url"] == "http://minio:9000"
    assert (options["access_key"], options["secret_key"]) == ("minio-user", "minio-secret")
    assert options["region_name"] == "eu-west-1"
    assert s["s3_client"]["s3"] == {"addressing_style": "path"} and s["s3_client"]["signature_version"] == "s3v4"
    assert s["s3_client"]["connect_timeout"] == 5  # a lost bucket must not hang /healthz for a minute
    assert options["querystring_auth"] is True and options["querystring_expire"] == 300
    assert options["default_acl"] is None  # never public-read


def test_secrets_can_come_from_files(tmp_path):
    key_file = tmp_path / "s3-secret"
    key_file.write_text("from-a-docker-secret\n")
    s = load_settings(tmp_path, FLUXSITE_S3_BUCKET="b", FLUXSITE_S3_SECRET_ACCESS_KEY_FILE=str(key_file))
    assert s["storage"]["OPTIONS"]["secret_key"] == "from-a-docker-secret"


def test_behind_an_https_proxy_cookies_are_secure_and_hsts_is_sent(tmp_path):
    s = load_settings(
        tmp_path,
        FLUXSITE_BEHIND_HTTPS_PROXY="1",
        DJANGO_ALLOWED_HOSTS="studio.example.com",
        FLUXSITE_PUBLIC_URL="https://studio.example.com",
    )
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert s["SECURE_SSL_REDIRECT"] and s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"]
    assert s["SECURE_HSTS_SECONDS"] == 30 * 24 * 3600 and not s["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert s["hosts"] == ["studio.example.com"]
    assert s["csrf_origins"] == ["https://studio.example.com"]
    # /healthz and /metrics are answered before the HTTPS redirect and the host check.
    assert s["middleware"][0] == "fluxsite.ops.middleware.OpsEndpointsMiddleware"
    assert s["middleware"][1] == "django.middleware.security.SecurityMiddleware"


def test_behind_an_https_proxy_the_host_names_must_be_given(tmp_path):
    with pytest.raises(RuntimeError, match="set DJANGO_ALLOWED_HOSTS"):
        load_settings(tmp_path, FLUXSITE_BEHIND_HTTPS_PROXY="1")


def test_plain_http_runs_keep_cookies_that_work_without_tls(tmp_path):
    s = load_settings(tmp_path)
    assert not s["debug"]
    assert not s["SESSION_COOKIE_SECURE"] and not s["SECURE_SSL_REDIRECT"] and not s["SECURE_HSTS_SECONDS"]


def test_json_logs_go_to_stdout(tmp_path):
    s = load_settings(tmp_path, FLUXSITE_LOG_FORMAT="json", FLUXSITE_STATIC_ROOT=str(tmp_path / "static"))
    assert s["log_formatters"]["json"]["()"] == "pythonjsonlogger.json.JsonFormatter"
    assert s["log_stream"] == "ext://sys.stdout"
    assert s["STATIC_ROOT"] == str(tmp_path / "static")


def test_a_json_log_line_is_one_json_object(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env.update(FLUXSITE_DATA_DIR=str(tmp_path), DJANGO_SECRET_KEY="x", FLUXSITE_LOG_FORMAT="json",
               DJANGO_SETTINGS_MODULE="fluxsite.settings")
    code = "import django, logging; django.setup(); logging.getLogger('variations').warning('job %s stuck', 'abc')"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "variations", "job abc stuck")
    assert "time" in line and "pid" in line


def test_an_unknown_log_format_is_refused_at_start(tmp_path):
    with pytest.raises(RuntimeError, match="FLUXSITE_LOG_FORMAT must be one of"):
        load_settings(tmp_path, FLUXSITE_LOG_FORMAT="xml")


def test_metrics_networks_and_the_budget_are_parsed(tmp_path):
    s = load_settings(tmp_path, FLUXSITE_METRICS_ALLOWED_NETWORKS="10.0.0.0/8, 192.168.1.7", FLUXSITE_MONTHLY_BUDGET_USD="250.50")
    assert s["metrics_networks"] == ["10.0.0.0/8", "192.168.1.7/32"]
    assert s["budget"] == "250.50"
