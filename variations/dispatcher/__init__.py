"""The dispatcher: one loop that submits queued jobs, follows every prediction in flight and stores outputs."""

from .loop import Dispatcher, run_dispatcher, wake_dispatcher, work_remains

__all__ = ["Dispatcher", "run_dispatcher", "wake_dispatcher", "work_remains"]
