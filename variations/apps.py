from django.apps import AppConfig
from django.db.models.signals import post_migrate


class VariationsConfig(AppConfig):
    name = "variations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import search  # models must be loaded first
        from . import ledger  # noqa: F401  (keeps the charges of jobs being deleted)
        from .dispatcher import watchdog  # noqa: F401  (connects the worker start-up hook; models must be loaded first)

        post_migrate.connect(search.install_text_search, sender=self)

