"""EMAIL_URL → Django's EMAIL_* settings, so one variable says how the app sends mail (share links sent
from their page). Unset: the console backend, which writes messages to the log instead of sending them.

    smtp://user:password@mail.example.com:587?tls=1     STARTTLS (also smtp+tls://)
    smtps://user:password@mail.example.com:465          TLS from the start
    console://                                          print messages (the default)
"""

from urllib.parse import parse_qs, unquote, urlsplit

BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
}


def email_settings(url):
    """The EMAIL_* settings for `url`; ValueError for a scheme this does not know."""
    if not url:
        return {"EMAIL_BACKEND": BACKENDS["console"]}
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("console", "locmem"):
        return {"EMAIL_BACKEND": BACKENDS[scheme]}
    if scheme not in ("smtp", "smtps", "smtp+tls"):
        raise ValueError(f"EMAIL_URL: unknown scheme {parts.scheme!r} (smtp, smtps, smtp+tls or console)")
    query = parse_qs(parts.query)
    ssl = scheme == "smtps"
    return {
        "EMAIL_BACKEND": BACKENDS["smtp"],
        "EMAIL_HOST": parts.hostname or "localhost",
        "EMAIL_PORT": parts.port or (465 if ssl else 587 if scheme == "smtp+tls" else 25),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_SSL": ssl,
        "EMAIL_USE_TLS": not ssl and (scheme == "smtp+tls" or query.get("tls", ["0"])[0] in ("1", "true", "yes")),
        "EMAIL_TIMEOUT": 10,
    }
