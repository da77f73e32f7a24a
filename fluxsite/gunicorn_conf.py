"""gunicorn's settings for the web service: `gunicorn -c python:fluxsite.gunicorn_conf fluxsite.wsgi`.

Threads per process, because media downloads and zip exports stream for a while; logs on stdout
in the same format as the app's (FLUXSITE_LOG_FORMAT). The app is loaded once, in the master, before
the workers are forked: they share its memory instead of each importing Django and the app again.
"""

import os

from fluxsite.ops.logformats import LOG_FORMATS

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
control_socket_disable = True  # nothing here uses gunicornc
max_requests = 2000  # recycle processes now and then, with jitter so they do not all restart at once
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s"'


def pre_fork(server, worker):
    """Runs in the master before each fork (max_requests recycling included). A database connection opened
    while loading the app must not be inherited: two processes on one socket or SQLite handle corrupt it."""
    from django.db import connections

    connections.close_all()


if os.environ.get("FLUXSITE_LOG_FORMAT") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": LOG_FORMATS["json"]},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }
