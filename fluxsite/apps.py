from django.apps import AppConfig

from .ops import redact


class FluxsiteConfig(AppConfig):
    """The project itself as an app: its management commands (health) and the log redaction."""

    name = "fluxsite"

    def ready(self):
        redact.install()
