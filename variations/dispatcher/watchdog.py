"""A watchdog in every qcluster worker process: when jobs wait and no live dispatcher follows them
(it died with its worker, here or on another host), start one within a lease's time."""

import logging
import threading

from django.conf import settings
from django.db import close_old_connections
from django_q.signals import post_spawn

from ..models import DispatcherLease
from .loop import wake_dispatcher, work_remains

log = logging.getLogger(__name__)
_started = threading.Event()


def watch_dispatcher(stop=None):
    """Check every lease period; extra wake-ups from several watchdogs are harmless (one takes the lease)."""
    stop = stop or threading.Event()
    while not stop.wait(settings.FLUXSITE_LEASE_SECONDS):
        try:
            if not DispatcherLease.is_live() and work_remains():
                wake_dispatcher()
        except Exception:
            log.exception("dispatcher watchdog could not check for waiting jobs")
        finally:
            close_old_connections()


def on_worker_spawn(sender, proc_name, **kwargs):
    if not _started.is_set():
        _started.set()
        threading.Thread(target=watch_dispatcher, name="fluxsite-watchdog", daemon=True).start()


post_spawn.connect(on_worker_spawn, dispatch_uid="fluxsite-watchdog")
