from django.apps import AppConfig


class VariationsConfig(AppConfig):
    name = "variations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import redact, signals  # noqa: F401  (signals: connects the worker start-up hook)

        redact.install()
