"""WaveSpeed's HTTP API as this project uses it: the client (the only code that speaks to WaveSpeed),
its typed errors, and a simulator that stands in for the service. Plain Python: no Django here.

Named `wavespeed_api`, not `wavespeed`, because `wavespeed` is the import name of WaveSpeed's own
SDK, which the benchmark installs beside the app to measure against.
"""

from .answers import FINAL_STATUSES, HistoryItem, Prediction, Quote, parse_time
from .client import DEFAULT_BASE_URL, MODEL_ID, WaveSpeedClient
from .errors import (
    AmbiguousSubmit,
    BadRequest,
    Forbidden,
    InsufficientBalance,
    MalformedResponse,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    WaveSpeedError,
    take_error_tally,
)

__all__ = [
    "DEFAULT_BASE_URL", "FINAL_STATUSES", "MODEL_ID", "HistoryItem", "Prediction", "Quote", "WaveSpeedClient",
    "parse_time", "AmbiguousSubmit", "BadRequest", "Forbidden", "InsufficientBalance", "MalformedResponse",
    "NotFound", "RateLimited", "ServerError", "Unauthorized", "WaveSpeedError", "take_error_tally",
]
