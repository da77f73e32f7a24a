"""Keeps link tokens out of the logs: request lines and "Not Found: /s/<token>/" warnings name paths.

Share links (/s/<token>/...), invitations (/invite/<token>/) and API tokens (fxs_...) are masked in
every record of the loggers that write request paths, Django's and gunicorn's alike.
"""

import logging
import re

SECRET_PATTERN = re.compile(r"(/s/|/invite/)[A-Za-z0-9_-]{8,}|\bfxs_[A-Za-z0-9_-]{8,}")
REQUEST_LOGGERS = ("django.request", "django.server", "django.security.csrf", "gunicorn.access", "gunicorn.error")


def redact(text):
    return SECRET_PATTERN.sub(lambda m: (m.group(1) or "fxs_") + "[redacted]", text)


def _clean(value):
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    def filter(self, record):
        record.msg = _clean(record.msg)
        if isinstance(record.args, dict):  # gunicorn's access atoms: changed in place, keeping its dict class
            for key, value in list(record.args.items()):
                record.args[key] = _clean(value)
        elif record.args:
            record.args = tuple(_clean(value) for value in record.args)
        return True


def install():
    """Put the filter on the loggers that name request paths (records are created there, so it sees them all)."""
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
