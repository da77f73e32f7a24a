"""`manage.py wavespeed_simulator`: serve the WaveSpeed test double until Ctrl-C (demo mode, manual testing)."""

import threading
from dataclasses import fields

from django.core.management.base import BaseCommand

from wavespeed_api.simulator import SimulatorConfig, start_simulator


class Command(BaseCommand):
    help = "Serve a local WaveSpeed API simulator (a test double, not the real service) until Ctrl-C."
    requires_system_checks = []  # it uses nothing of the project but this package

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        # One flag per SimulatorConfig field, so the two can never drift apart.
        defaults = SimulatorConfig()
        for setting in fields(SimulatorConfig):
            meta = setting.metadata
            parser.add_argument(
                meta.get("flag", "--" + setting.name.replace("_", "-")),
                dest=setting.name,
                type=meta["kind"],
                action=meta.get("action", "store"),
                help=f"{meta['help']} (default: {getattr(defaults, setting.name)})",
            )

    def handle(self, *args, **options):
        chosen = {f.name: options[f.name] for f in fields(SimulatorConfig) if options[f.name] is not None}
        simulator = start_simulator(SimulatorConfig(**chosen), host=options["host"], port=options["port"])
        self.stdout.write(
            f"WaveSpeed simulator (a TEST DOUBLE, not the real WaveSpeed API) serving at {simulator.base_url}"
        )
        self.stdout.write("Ctrl-C stops it.")
        self.stdout.flush()  # whoever started us through a pipe is waiting for the URL
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            simulator.stop()
