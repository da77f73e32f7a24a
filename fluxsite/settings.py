"""Settings for fluxsite, read from the environment (12-factor).

Every setting has a safe default; the README lists them all.
"""

import ipaddress
import os
import secrets
from decimal import Decimal
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from fluxsite.email_url import email_settings
from fluxsite.ops.logformats import LOG_FORMATS

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=""):
    """A setting from the environment, or from the file named by NAME_FILE (Docker secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text().strip()
    return os.environ.get(name, default)


def envbool(name, default="0"):
    return env(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name, default):
    return int(env(name, str(default)))


def envfloat(name, default):
    return float(env(name, str(default)))


def envnetworks(name):
    """A comma-separated list of networks or single addresses (10.0.0.0/8, 192.168.1.7)."""
    return [ipaddress.ip_network(net.strip(), strict=False) for net in env(name).split(",") if net.strip()]


DATA_DIR = Path(env("FLUXSITE_DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key():
    """DJANGO_SECRET_KEY, or a random key made once per data directory (never a built-in one)."""
    key = env("DJANGO_SECRET_KEY")
    if key:
        return key
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.touch(mode=0o600)
        key_file.write_text(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = envbool("DJANGO_DEBUG")
ALLOWED_HOSTS = [h.strip() for h in env("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env("DJANGO_CSRF_TRUSTED_ORIGINS").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_q",
    "ninja",  # serves the API docs page's own static files (no CDN)
    "team",
    "variations",
    "sharing",
    "fluxsite",
]

MIDDLEWARE = [
    # /healthz and /metrics, answered before host checks and the HTTPS redirect (probes use plain HTTP and IPs).
    "fluxsite.ops.middleware.OpsEndpointsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # gzip for text answers (pages, JSON, CSV) with Django's BREACH mitigation; above everything that writes a
    # body, so it compresses the final one. Media and zips pass as they are; whitenoise sends its own .gz files.
    "fluxsite.ops.middleware.TextGZipMiddleware",
    # Content-Security-Policy on every answer (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Until the first administrator exists, every page leads to /setup/ (no default password anywhere).
    "team.views.account.FirstRunMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "fluxsite.urls"
WSGI_APPLICATION = "fluxsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "team.context_processors.permissions",
                "variations.context_processors.service_banner",
                "sharing.context_processors.picks_news",
            ],
        },
    },
]

# DATABASE_URL (PostgreSQL: postgres://user:password@host:5432/name) for several hosts; unset, SQLite in
# the data directory. SQLite settings that keep a web process and workers from hitting "database is
# locked": writers take the lock up front (IMMEDIATE) and WAL lets readers go on beside a writer.
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=envint("FLUXSITE_DB_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

# REDIS_URL (redis://host:6379/0) moves the django-q2 broker and the cache to Redis; unset, the broker
# is the database (ORM) and the cache lives in each process. FLUXSITE_QUEUE_NAME names the queue and
# prefixes every Redis key, so several sites can share one Redis.
REDIS_URL = env("REDIS_URL")
FLUXSITE_QUEUE_NAME = env("FLUXSITE_QUEUE_NAME", "fluxsite")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": FLUXSITE_QUEUE_NAME,
            "OPTIONS": {"socket_connect_timeout": 5, "socket_timeout": 5},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The one backend: Django's password check behind the sign-in throttle (team.throttle), for every way to sign in.
AUTHENTICATION_BACKENDS = ["team.throttle.ThrottledModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "library"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# `collectstatic` writes each file under a name with its content's hash (and .gz copies) and a manifest that
# `{% static %}` reads, so whitenoise serves them with a year's `immutable` cache. `make run` collects into
# the data directory, the Docker image at build time into its own folder (FLUXSITE_STATIC_ROOT).
STATIC_ROOT = Path(env("FLUXSITE_STATIC_ROOT", str(DATA_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Media are private: they are served only through views that check access (variations.views.media).
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},  # always local
}
# S3-compatible object storage (AWS S3, MinIO, ...) for sources, outputs and thumbnails when a bucket is
# set. The bucket stays private: the media views check access, then redirect to a URL signed for
# FLUXSITE_S3_URL_SECONDS. Without keys, boto3 finds credentials itself (instance role, AWS_* variables).
FLUXSITE_S3_BUCKET = env("FLUXSITE_S3_BUCKET")
if FLUXSITE_S3_BUCKET:
    from botocore.config import Config as S3ClientConfig

    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": FLUXSITE_S3_BUCKET,
            "endpoint_url": env("FLUXSITE_S3_ENDPOINT_URL") or None,
            "region_name": env("FLUXSITE_S3_REGION") or None,
            "access_key": env("FLUXSITE_S3_ACCESS_KEY_ID") or None,
            "secret_key": env("FLUXSITE_S3_SECRET_ACCESS_KEY") or None,
            "location": env("FLUXSITE_S3_PREFIX").strip("/"),
            # Short connect timeouts and few retries, so /healthz and a page never hang on a lost bucket.
            "client_config": S3ClientConfig(
                s3={"addressing_style": env("FLUXSITE_S3_ADDRESSING_STYLE") or None},  # "path" for most MinIO setups
                signature_version="s3v4",
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
            "default_acl": None,  # objects inherit the private bucket's policy
            "querystring_auth": True,
            "querystring_expire": envint("FLUXSITE_S3_URL_SECONDS", 300),
            "file_overwrite": True,  # names are content hashes and job ids: the same name is the same file
            "object_parameters": {"CacheControl": "private, max-age=86400"},
        },
    }

# Uploads: WaveSpeed takes images up to 20 MB; larger pixel counts are refused as decompression bombs.
FLUXSITE_MAX_UPLOAD_BYTES = envint("FLUXSITE_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
FLUXSITE_MAX_PIXELS = envint("FLUXSITE_MAX_PIXELS", 64_000_000)
FLUXSITE_THUMBNAIL_PX = 512
# "Thumbnails only" share links open a preview this many px on its longest side: a WebP made once on
# demand and kept in storage (previews/), never the original.
FLUXSITE_SHARE_PREVIEW_PX = envint("FLUXSITE_SHARE_PREVIEW_PX", 1024)
# Files that leave the team (share links, their zips, outputs) never carry location, serials or owner
# names; the team's own originals are kept byte for byte unless this takes them out at upload too.
FLUXSITE_STRIP_METADATA_ON_UPLOAD = envbool("FLUXSITE_STRIP_METADATA_ON_UPLOAD")
DATA_UPLOAD_MAX_MEMORY_SIZE = FLUXSITE_MAX_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FLUXSITE_PUBLIC_URL = env("FLUXSITE_PUBLIC_URL").rstrip("/")

# Mail (share links sent from their page): EMAIL_URL, e.g. smtp://user:password@host:587?tls=1
# (fluxsite/email_url.py); unset, messages go to the log (console backend).
globals().update(email_settings(env("EMAIL_URL")))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "fluxsite <fluxsite@localhost>")

# WaveSpeed. Without a key `make run` starts the simulator and sets FLUXSITE_SIMULATOR=1.
WAVESPEED_API_KEY = env("WAVESPEED_API_KEY")
WAVESPEED_BASE_URL = env("WAVESPEED_BASE_URL", "https://api.wavespeed.ai").rstrip("/")
WAVESPEED_MAX_CONCURRENCY = envint("WAVESPEED_MAX_CONCURRENCY", 3)
WAVESPEED_MAX_PER_MINUTE = envint("WAVESPEED_MAX_PER_MINUTE", 10)
WAVESPEED_PREDICTION_TIMEOUT = envint("WAVESPEED_PREDICTION_TIMEOUT", 600)
WAVESPEED_CONNECT_TIMEOUT = envfloat("WAVESPEED_CONNECT_TIMEOUT", 5)
WAVESPEED_READ_TIMEOUT = envfloat("WAVESPEED_READ_TIMEOUT", 30)
WAVESPEED_SIMULATED = envbool("FLUXSITE_SIMULATOR")

# The dispatcher (variations.dispatcher) runs inside one django-q2 task for at most this long,
# then hands over to a fresh task; django-q2's timeout and retry sit above it as the notes require.
FLUXSITE_DISPATCH_SECONDS = envint("FLUXSITE_DISPATCH_SECONDS", 240)
FLUXSITE_LEASE_SECONDS = envint("FLUXSITE_LEASE_SECONDS", 10)
# Threads the dispatcher uses for HTTP (submits, polls, downloads) beside its one database thread.
FLUXSITE_DISPATCH_THREADS = envint("FLUXSITE_DISPATCH_THREADS", max(8, min(64, 2 * WAVESPEED_MAX_CONCURRENCY + 4)))
# Submit POSTs under way at once, in bursts (a burst waits for the last one to end); 0: as many as free
# slots allow. A lone unanswered submit of a burst is settled exactly from WaveSpeed's history; several
# of one burst only by their tagged webhooks, else they fail as ambiguous. 1: one at a time, so the
# history alone settles every one (variations/dispatcher/reconcile.py).
FLUXSITE_SUBMIT_PARALLELISM = envint("FLUXSITE_SUBMIT_PARALLELISM", 0)
# How long a submit without an answer waits before WaveSpeed's history is asked about it. Keep it
# well above the connect + read timeouts: a submit WaveSpeed is still working on must show by then.
FLUXSITE_SUBMIT_SETTLE_SECONDS = envint("FLUXSITE_SUBMIT_SETTLE_SECONDS", 90)
# Webhooks need a public https URL; plain http is for tests and benchmarks on one machine only.
FLUXSITE_WEBHOOK_ALLOW_HTTP = envbool("FLUXSITE_WEBHOOK_ALLOW_HTTP")
# How another process wakes the dispatcher at once (a new job, a webhook's result): "auto" picks Redis
# pub/sub with REDIS_URL, else PostgreSQL LISTEN/NOTIFY, else a socket in the data directory; or name one
# ("redis", "postgres", "socket", "off"). The loop still looks every FLUXSITE_WAKE_TIMEOUT seconds.
FLUXSITE_WAKE_SIGNAL = env("FLUXSITE_WAKE_SIGNAL", "auto")
FLUXSITE_WAKE_TIMEOUT = envfloat("FLUXSITE_WAKE_TIMEOUT", 1.0)

# One task process per qcluster: one dispatcher loop does all WaveSpeed work, and the only other task (the
# minute's sweep) has nothing to do while it runs. More processes add memory (django-q2 adds its sentinel,
# monitor and pusher to them), not throughput; scale with more qclusters (containers) instead.
Q_CLUSTER = {
    "name": FLUXSITE_QUEUE_NAME,
    **({"redis": REDIS_URL} if REDIS_URL else {"orm": "default"}),
    "workers": envint("FLUXSITE_WORKERS", 1),
    "timeout": FLUXSITE_DISPATCH_SECONDS + 60,
    "retry": FLUXSITE_DISPATCH_SECONDS + 120,
    "max_attempts": 3,
    "save_limit": -1,
    "ack_failures": True,
    "catch_up": False,
    "poll": 0.2,
    "label": "Worker",
}

# Logs go to stdout: plain lines for a terminal, or one JSON object per line (FLUXSITE_LOG_FORMAT=json,
# the Docker image's default) for a log collector.
FLUXSITE_LOG_FORMAT = env("FLUXSITE_LOG_FORMAT", "plain")
if FLUXSITE_LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(f"FLUXSITE_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {FLUXSITE_LOG_FORMAT: LOG_FORMATS[FLUXSITE_LOG_FORMAT]},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": FLUXSITE_LOG_FORMAT, "stream": "ext://sys.stdout"}
    },
    "root": {"handlers": ["console"], "level": env("FLUXSITE_LOG_LEVEL", "INFO")},
    "loggers": {"django_q": {"level": "WARNING"}},
}

# Production fast path for media: the app checks access, then hands the file to the proxy
# (nginx: X-Accel-Redirect with an internal location; Apache/lighttpd: X-Sendfile).
FLUXSITE_SENDFILE_HEADER = env("FLUXSITE_SENDFILE_HEADER")
FLUXSITE_SENDFILE_PREFIX = env("FLUXSITE_SENDFILE_PREFIX", "/protected-media/")
# Normally fetched from WaveSpeed (GET /api/v3/webhook/secret); set it to skip that call.
WAVESPEED_WEBHOOK_SECRET = env("WAVESPEED_WEBHOOK_SECRET")

# Production behind a TLS-terminating proxy (nginx, Caddy, a load balancer) that sets X-Forwarded-Proto.
# Only with it on are cookies marked Secure and HSTS sent: plain-HTTP local runs keep working.
FLUXSITE_BEHIND_HTTPS_PROXY = envbool("FLUXSITE_BEHIND_HTTPS_PROXY")
# The proxies (addresses or networks) whose X-Forwarded-For is believed: a request from one of them is
# counted as coming from the address the proxy saw (throttles, the /metrics allow-list). Empty: REMOTE_ADDR.
FLUXSITE_TRUSTED_PROXIES = envnetworks("FLUXSITE_TRUSTED_PROXIES")
if not CSRF_TRUSTED_ORIGINS and FLUXSITE_PUBLIC_URL.startswith("https://"):
    CSRF_TRUSTED_ORIGINS = [FLUXSITE_PUBLIC_URL]
if FLUXSITE_BEHIND_HTTPS_PROXY and not DEBUG:
    if not env("DJANGO_ALLOWED_HOSTS"):
        raise ImproperlyConfigured("Behind an HTTPS proxy, set DJANGO_ALLOWED_HOSTS to the site's host names.")
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("FLUXSITE_HSTS_SECONDS", 30 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("FLUXSITE_HSTS_INCLUDE_SUBDOMAINS")

# /metrics answers a scraper that sends `Authorization: Bearer <FLUXSITE_METRICS_TOKEN>` or comes from one
# of FLUXSITE_METRICS_ALLOWED_NETWORKS (comma-separated, e.g. 10.0.0.0/8); with neither set it is off.
FLUXSITE_METRICS_TOKEN = env("FLUXSITE_METRICS_TOKEN")
FLUXSITE_METRICS_ALLOWED_NETWORKS = envnetworks("FLUXSITE_METRICS_ALLOWED_NETWORKS")

# Content-Security-Policy (django-csp): scripts, styles, images and requests from this site only, no
# inline script or style anywhere (the templates' code lives in static/), no framing, forms that post
# only here. With S3 storage, images also come from the bucket's host (the media views redirect there).
def _s3_image_hosts():
    if not FLUXSITE_S3_BUCKET:
        return []
    endpoint = env("FLUXSITE_S3_ENDPOINT_URL").rstrip("/")
    if not endpoint:
        return ["https://*.amazonaws.com"]
    scheme, _, host = endpoint.partition("://")
    host = host.split("/")[0]
    return [f"{scheme}://{host}", f"{scheme}://*.{host}"]


CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", *_s3_image_hosts()],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Estimated WaveSpeed spending (variations.costs): prices are cached this long; with a monthly budget
# (USD, 0 = none) jobs that would go over it are not sent and say why.
FLUXSITE_PRICE_CACHE_SECONDS = envint("FLUXSITE_PRICE_CACHE_SECONDS", 3600)
FLUXSITE_MONTHLY_BUDGET_USD = Decimal(env("FLUXSITE_MONTHLY_BUDGET_USD", "0") or "0")
# The price per image to count when WaveSpeed quotes none and no job of the same parameters was priced
# (empty: none; with a budget set, such a job then waits). Below FLUXSITE_LOW_BALANCE_USD the pages warn.
FLUXSITE_PRICE_PER_IMAGE_USD = Decimal(env("FLUXSITE_PRICE_PER_IMAGE_USD")) if env("FLUXSITE_PRICE_PER_IMAGE_USD") else None
FLUXSITE_LOW_BALANCE_USD = Decimal(env("FLUXSITE_LOW_BALANCE_USD", "1") or "0")
