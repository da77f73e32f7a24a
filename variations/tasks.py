"""django-q2 entry points. Thin: each calls a service function and returns a short result text."""

from . import dispatcher


def dispatch():
    """Run the dispatcher (or return at once if another process holds its lease). Safe to run twice."""
    return dispatcher.run_dispatcher()


def sweep():
    """Every minute (a django-q2 Schedule): restart the dispatcher if jobs wait and nobody follows them.

    Needed because the Redis broker never redelivers a task whose worker died.
    """
    if dispatcher.work_remains():
        dispatcher.wake_dispatcher()
        return "woke the dispatcher"
    return "idle"
