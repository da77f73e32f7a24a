"""WaveSpeed's answers read into plain objects: predictions (every documented status), history items, quotes.

Lenient where WaveSpeed is loose (unknown statuses, nanosecond or naive timestamps), strict where a
wrong reading costs money (an unreadable prediction is a MalformedResponse).
"""

import logging
import math
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from .errors import MalformedResponse

log = logging.getLogger(__name__)

# Final statuses: the SDK and CLI know `cancelled` and `timeout` besides the model page's two; every
# other status (created, processing, `pending` from WaveSpeed's desktop app, one added later) is running.
FINAL_STATUSES = ("completed", "failed", "cancelled", "timeout")
KNOWN_STATUSES = ("created", "pending", "processing", *FINAL_STATUSES)
_unknown_statuses_logged = set()
_unknown_statuses_lock = threading.Lock()


def _note_unknown_status(status):
    """Log a status this client does not know once per process and value: it is read as still running."""
    with _unknown_statuses_lock:
        if status in _unknown_statuses_logged:
            return
        _unknown_statuses_logged.add(status)
    log.warning("WaveSpeed answered the unknown prediction status %r; treating it as still running", status[:40])


def _task_code(data):
    """A failed task's code: `code` as WaveSpeed's error-codes page and Go SDK read it (0 = success),
    else `error_code`, which some bodies carry instead."""
    code = data.get("code")
    if code not in (None, "", 0, "0", 200, "200"):
        return str(code)
    return str(data.get("error_code") or "")


def parse_time(value):
    """A timestamp from WaveSpeed as an aware datetime, or None when unreadable. It writes up to
    nanoseconds (Python keeps microseconds); one without a time zone is UTC."""
    if not isinstance(value, str):
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip())
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


MAX_INFERENCE_MS = 24 * 3600 * 1000  # a day: anything longer is no measurement of an image run


def _inference_ms(value):
    """The inference time as whole milliseconds; None when absent or out of range (1e400 reads as
    infinity, which no int holds). Text that is no number at all is a ValueError: a malformed answer."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"inference time {value!r} is not a number")
    number = float(value)
    if not (math.isfinite(number) and 0 <= number <= MAX_INFERENCE_MS):
        log.warning("WaveSpeed answered an inference time out of range; ignoring it")
        return None
    return int(number)


@dataclass
class Prediction:
    id: str
    status: str  # one of KNOWN_STATUSES, or an unknown one read as still running
    outputs: list = field(default_factory=list)
    has_nsfw_contents: list = field(default_factory=list)
    error: str = ""
    inference_ms: int | None = None
    error_code: str = ""

    @property
    def finished(self):
        """WaveSpeed will not change this prediction any more (completed, failed, cancelled, timed out)."""
        return self.status in FINAL_STATUSES

    @classmethod
    def from_data(cls, data):
        try:
            timings = data.get("timings") or {}
            inference = timings.get("inference")
            prediction = cls(
                id=str(data["id"]),
                status=str(data["status"]),
                outputs=list(data.get("outputs") or []),
                has_nsfw_contents=[bool(x) for x in (data.get("has_nsfw_contents") or [])],
                error=str(data.get("error") or ""),
                inference_ms=_inference_ms(inference),
                error_code=_task_code(data),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedResponse(f"unreadable prediction: {exc}") from exc
        if prediction.status not in KNOWN_STATUSES:
            _note_unknown_status(prediction.status)
        return prediction


@dataclass(frozen=True)
class HistoryItem:
    """One task of the account's history: no inputs, so it ties to a job only by model, time and order."""

    id: str
    model: str
    status: str
    created_at: datetime | None  # None when WaveSpeed's timestamp could not be read


@dataclass(frozen=True)
class Quote:
    """WaveSpeed's price for one run: the list price and what is charged (a discount applied), in USD."""

    price: Decimal
    charged: Decimal
    endpoint: str  # "price" (the official clients' endpoint) or "pricing" (the docs page's)
