"""When a qcluster worker process starts, carry on any job a stopped worker left behind."""

import logging
import threading

from django.db import close_old_connections
from django.utils import timezone
from django_q.signals import post_spawn

from .models import DispatcherLease

log = logging.getLogger(__name__)


def resume_when_lease_expires():
    """Wake the dispatcher once any lease a dead process left behind has run out (at most its TTL)."""
    from .dispatcher import wake_dispatcher, work_remains

    try:
        lease = DispatcherLease.current()
        if lease and lease[0]:
            wait = (lease[1] - timezone.now()).total_seconds()
            if wait > 0:
                threading.Event().wait(wait + 0.2)
        if work_remains():
            wake_dispatcher()
    except Exception:
        log.exception("could not resume unfinished jobs at worker start")
    finally:
        close_old_connections()


def on_worker_spawn(sender, proc_name, **kwargs):
    """Every worker process looks once; extra wake-ups are harmless (only one can take the lease)."""
    threading.Thread(target=resume_when_lease_expires, name="fluxsite-resume", daemon=True).start()


post_spawn.connect(on_worker_spawn, dispatch_uid="fluxsite-resume")
