"""The deployment files say what they should: the compose file, the Dockerfile and .env.example are read
and checked against the code they start (`make test-compose` runs them for real in a Docker engine)."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "web", "worker")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def settings_read_from_environment():
    """Every variable the settings and the gunicorn config read."""
    settings = (ROOT / "fluxsite" / "settings.py").read_text()
    gunicorn = (ROOT / "fluxsite" / "gunicorn_conf.py").read_text()
    names = set(re.findall(r'\benv(?:bool|int|float)?\("([A-Z0-9_]+)"', settings))
    names |= set(re.findall(r'os\.environ\.get\("([A-Z0-9_]+)"', gunicorn))
    names |= set(re.findall(r"os\.environ\.get\('([A-Z0-9_]+)'", gunicorn))
    return names


def documented_settings():
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))


def test_the_compose_file_has_web_worker_database_redis_and_a_one_shot_migrate(services):
    assert set(services) == {"migrate", "web", "worker", "db", "redis", "simulator"}
    assert services["web"]["command"][0] == "gunicorn"
    assert "fluxsite.wsgi" in services["web"]["command"]
    assert services["worker"]["command"] == ["python", "manage.py", "qcluster"]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"
    assert services["db"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")


def test_the_simulator_runs_only_in_its_profile_and_the_app_waits_for_it_only_then(services):
    simulator = services["simulator"]
    assert simulator["profiles"] == ["simulator"]
    assert simulator["command"][:3] == ["python", "manage.py", "wavespeed_simulator"]
    assert "0.0.0.0" in simulator["command"] and "8765" in simulator["command"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["simulator"] == {"condition": "service_healthy", "required": False}
        assert services[name]["environment"]["FLUXSITE_SIMULATOR_HOST"] == "simulator"
    entrypoint = (ROOT / "deploy" / "docker-entrypoint").read_text()
    assert '-z "${WAVESPEED_API_KEY:-}"' in entrypoint  # a configured key always wins
    assert "FLUXSITE_SIMULATOR=1" in entrypoint  # the banner on every page


def test_web_is_published_on_loopback_only(services):
    assert all(port.startswith("127.0.0.1:") for port in services["web"]["ports"])
    assert all("ports" not in services[name] for name in services if name != "web")


def test_web_and_worker_start_only_after_migrate_has_finished_and_the_servers_are_healthy(services):
    for name in ("web", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["db"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_the_worker_can_be_scaled(services):
    """`--scale worker=3` fails on a fixed container name or a published host port."""
    assert "container_name" not in services["worker"]
    assert "ports" not in services["worker"]
    assert "deploy" not in services["worker"] or "replicas" not in services["worker"]["deploy"]


def test_every_service_has_a_health_check_except_the_one_shot_migrate(services):
    for name in ("web", "worker", "db", "redis"):
        test = services[name]["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL")
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["worker"]["healthcheck"]["test"][1:] == ["python", "manage.py", "health", "--worker"]
    assert "pg_isready" in services["db"]["healthcheck"]["test"][1]
    assert services["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]


def test_the_app_services_use_postgres_and_redis_and_keep_data_in_volumes(compose, services):
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://") and "@db:5432/" in environment["DATABASE_URL"]
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["FLUXSITE_DATA_DIR"] == "/data"
        assert "media:/data" in services[name]["volumes"]
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert set(compose["volumes"]) == {"pgdata", "media"}


def test_secrets_and_host_names_are_required_not_defaulted(services):
    environment = services["web"]["environment"]
    for name in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"):
        assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", environment[name]), environment[name]
    assert "${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"]
    assert services["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_every_variable_the_compose_file_uses_is_documented_in_env_example():
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert used and used <= documented_settings(), used - documented_settings()


def test_every_setting_the_app_reads_is_documented_in_env_example():
    read = settings_read_from_environment()
    assert {"DATABASE_URL", "REDIS_URL", "FLUXSITE_S3_BUCKET", "FLUXSITE_METRICS_TOKEN"} <= read
    assert read <= documented_settings(), f"undocumented in .env.example: {sorted(read - documented_settings())}"


def test_env_example_sets_nothing_that_would_override_a_default_with_an_empty_value():
    """Only the values compose requires are uncommented; an empty NAME= would not mean "the default"."""
    assigned = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert assigned == {"DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "POSTGRES_PASSWORD", "WAVESPEED_API_KEY"}


def test_the_image_is_slim_runs_as_a_user_and_holds_no_test_tools():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert "['project']['dependencies']" in dockerfile  # the app's dependencies, not the test extra
    assert "[test]" not in dockerfile and "pytest" not in dockerfile
    assert "collectstatic" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", "data", "tests", ".git", "deploy/test-compose"} <= set(ignored)
