"""`manage.py wavespeed_check [--run]`: does this instance's WaveSpeed setup work? Exit status 0 when it does."""

from django.core.management.base import BaseCommand, CommandError

from ...wavespeed_check import FAIL, OK, Check

MARKS = {OK: "ok  ", FAIL: "FAIL"}


class Command(BaseCommand):
    help = (
        "Check the WaveSpeed setup with the configured key: balance, the price of a default job, the webhook "
        "secret and URL, the limits beside WaveSpeed's levels; --run also sends one 256x256 1-step job end to end."
    )

    def add_arguments(self, parser):
        parser.add_argument("--run", action="store_true", help="upload a small image and run one job (costs one cheap job)")

    def handle(self, *args, run=False, **options):
        check = Check(on_step=self.show).run(end_to_end=run)
        if not check.works:
            raise CommandError("The WaveSpeed setup does not work yet: see the advice above.")
        self.stdout.write(self.style.SUCCESS("The WaveSpeed setup works."))

    def show(self, step):
        timing = f"  ({step.seconds:.2f} s)" if step.seconds else ""
        cost = f"  cost {step.cost}" if step.cost else ""
        line = f"{MARKS.get(step.outcome, 'warn')}  {step.name}: {step.detail}{timing}{cost}"
        style = {OK: self.style.SUCCESS, FAIL: self.style.ERROR}.get(step.outcome, self.style.WARNING)
        self.stdout.write(style(line))
        if step.advice:
            self.stdout.write(f"      -> {step.advice}")
