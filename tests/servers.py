"""Real PostgreSQL and Redis for the integration tests: a fresh database and a key prefix of their own
for each live stack, dropped afterwards, so runs never see each other's jobs or tasks."""

import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql


def is_postgres(url):
    return urlsplit(url or "").scheme in ("postgres", "postgresql", "pgsql")


def with_database(url, name):
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def postgres_unreachable(url):
    """Why PostgreSQL at `url` cannot be used (a message), or None when it can."""
    try:
        with psycopg.connect(with_database(url, "postgres"), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {urlsplit(url).hostname}:{urlsplit(url).port or 5432} is not reachable: {exc}".strip()


def redis_unreachable(url):
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
        return None
    except redis.RedisError as exc:
        return f"Redis at {urlsplit(url).hostname}:{urlsplit(url).port or 6379} is not reachable: {exc}"


def create_database(server_url):
    """Make an empty database `fluxsite_test_<random>` on the server; returns its URL."""
    name = f"fluxsite_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(server_url, name)


def drop_database(url):
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def new_queue_name():
    return f"fluxsite-test-{uuid.uuid4().hex[:12]}"


def delete_redis_keys(url, queue_name):
    """Remove the queue, cluster stats and cache entries a stack with this queue name left in Redis."""
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    for pattern in (f"django_q:{queue_name}:*", f"{queue_name}:*"):
        keys = list(client.scan_iter(match=pattern, count=500))
        if keys:
            client.delete(*keys)
