"""Is each service the app needs reachable? Cheap checks for /healthz, polled every few seconds."""

import os
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection

OBJECT_STORAGE_CHECK_SECONDS = 30  # a bucket check is a billed request: repeat it at most this often
_bucket_checked = {"at": 0.0, "error": None}
_redis = threading.local()


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_broker():
    """Redis answers PING; the ORM broker is the database itself, checked above."""
    if not settings.REDIS_URL:
        return check_database()
    if not hasattr(_redis, "client"):
        import redis  # here, not at the top: it costs every web process ~20 MB, and only a Redis setup uses it

        _redis.client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    _redis.client.ping()


def check_storage():
    """Local media: the folder exists (or can be made) and is writable. Object storage: the bucket answers."""
    if isinstance(default_storage, FileSystemStorage):
        folder = Path(default_storage.location)
        while not folder.exists():
            folder = folder.parent
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"{folder} is not writable")
        return
    now = time.monotonic()
    if now - _bucket_checked["at"] >= OBJECT_STORAGE_CHECK_SECONDS:
        try:
            default_storage.connection.meta.client.head_bucket(Bucket=default_storage.bucket_name)
            _bucket_checked["error"] = None
        except Exception as exc:
            _bucket_checked["error"] = exc
        _bucket_checked["at"] = now
    if _bucket_checked["error"] is not None:
        raise _bucket_checked["error"]


CHECKS = {"database": check_database, "broker": check_broker, "storage": check_storage}


def report():
    """({name: {"ok": bool, "ms": float, "error": kind}}, all ok). Errors name only their kind: the
    answer is public, and error texts can carry host names or credentials."""
    results = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
            result = {"ok": True}
        except Exception as exc:
            result = {"ok": False, "error": type(exc).__name__}
        result["ms"] = round((time.perf_counter() - started) * 1000, 1)
        results[name] = result
    return results, all(r["ok"] for r in results.values())
