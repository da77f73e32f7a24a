"""`manage.py health [--worker]`: the container health check. Exit status 0 when healthy, 1 when not."""

import json
import socket

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_q.conf import Conf
from django_q.status import Stat

from fluxsite.ops import health


def local_cluster_running():
    """Has a qcluster on this host reported in the last few seconds? (django-q2 keeps those reports
    in Redis for 3 s; without Redis they stay inside each process, so there is nothing to read.)"""
    host = socket.gethostname()
    return any(s.host == host and s.status in (Conf.IDLE, Conf.WORKING, Conf.STARTING) for s in Stat.get_all())


class Command(BaseCommand):
    help = "Check that the database, the broker and the storage answer; with --worker, that this host's qcluster runs."

    def add_arguments(self, parser):
        parser.add_argument("--worker", action="store_true", help="also check this host's qcluster (Redis broker only)")

    def handle(self, *args, worker, **options):
        checks, ok = health.report()
        if worker and settings.REDIS_URL:
            running = local_cluster_running()
            checks["cluster"] = {"ok": running}
            ok = ok and running
        self.stdout.write(json.dumps(checks))
        if not ok:
            raise CommandError("unhealthy", returncode=1)
