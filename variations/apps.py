from django.apps import AppConfig


class VariationsConfig(AppConfig):
    name = "variations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .dispatcher import watchdog  # noqa: F401  (connects the worker start-up hook; models must be loaded first)
