"""The simulator's knobs. The running simulator reads them on every request, so changing one takes effect at once."""

from dataclasses import dataclass, field, fields

DOCUMENTED_FAILURE_CODES = (1200, 1400, 1401, 1402, 1403, 1405, 5000, 5003, 5004)
DEFAULT_WEBHOOK_SECRET = "whsec_fluxsite-simulator-test-secret"
OVER_CONCURRENCY = ("wait", "refuse")


def _setting(default, kind, help, optional=False, **cli):
    """A config field; `kind`, `optional` and `help` drive both runtime updates and the command-line flags."""
    metadata = {"kind": kind, "optional": optional, "help": help, **cli}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _is_kind(kind, value):
    if isinstance(value, bool):  # bool is an int subclass; no setting is a bool
        return False
    return isinstance(value, (int, float)) if kind is float else isinstance(value, kind)


@dataclass
class SimulatorConfig:
    latency: float = _setting(2.0, float, "seconds from submit to completed")
    latency_jitter: float = _setting(0.3, float, "each prediction takes latency*(1±jitter), uniform")
    concurrency: int = _setting(
        3, int, "predictions running at once per key (0 = unlimited); more wait for a slot, as WaveSpeed's do"
    )
    over_concurrency: str = _setting(
        "wait", str, 'a submit over the concurrency limit "wait"s for a slot (WaveSpeed) or is "refuse"d with a 429'
    )
    per_minute: int = _setting(10, int, "images accepted per rolling minute per key (0 = unlimited)")
    api_key: str | None = _setting(
        None, str, "the only Bearer key accepted (default: any non-empty key)", optional=True
    )
    fail_rate: float = _setting(0.0, float, "fraction of predictions that end failed")
    fail_codes: list = _setting(
        [1403],
        int,
        f"task-level codes failures draw from; one of {DOCUMENTED_FAILURE_CODES}",
        flag="--fail-code",
        action="append",
    )
    cancel_rate: float = _setting(0.0, float, "fraction of predictions that end cancelled (no outputs, refunded)")
    timeout_rate: float = _setting(0.0, float, "fraction of predictions that end with status timeout")
    foreign_rate: float = _setting(
        0.0, float, "fraction of submits beside which another client of the account starts a task of the same model"
    )
    submit_error_rate: float = _setting(
        0.0, float, "fraction of submits answered 500/502/503 AFTER the task was created (a gateway failing late)"
    )
    submit_timeout_rate: float = _setting(
        0.0, float, "fraction of submits whose answer is held slow_seconds AFTER the task was created"
    )
    nsfw_rate: float = _setting(0.0, float, "fraction of outputs flagged in has_nsfw_contents (safety checker on)")
    poll_error_rate: float = _setting(0.0, float, "fraction of result GETs answered 500/502/503")
    malformed_rate: float = _setting(0.0, float, "fraction of result GETs answered 200 with a truncated body")
    download_error_rate: float = _setting(0.0, float, "fraction of output-file GETs answered 503")
    upload_error_rate: float = _setting(0.0, float, "fraction of media uploads answered 500")
    slow_rate: float = _setting(0.0, float, "fraction of requests (any endpoint) delayed by slow_seconds")
    slow_seconds: float = _setting(35.0, float, "delay of a slow request (default beats a 30 s read timeout)")
    webhook_secret: str = _setting(
        DEFAULT_WEBHOOK_SECRET, str, "secret served by /api/v3/webhook/secret and used to sign webhooks"
    )
    webhook_backoff: float = _setting(1.0, float, "seconds before the first webhook retry; doubles on each retry")
    balance: float = _setting(100.0, float, "USD answered by /api/v3/balance")
    price_per_image: float = _setting(0.025, float, "USD per image quoted by both price endpoints")
    discount: float = _setting(0.0, float, "fraction off the price; above 0, /model/price also answers discounted_price")
    seed: int | None = _setting(
        None, int, "seed of the simulator's own dice, for reproducible fault runs", optional=True
    )

    def __post_init__(self):
        if self.over_concurrency not in OVER_CONCURRENCY:
            raise ValueError(f"over_concurrency must be one of {', '.join(OVER_CONCURRENCY)}")

    def update(self, values):
        """Set fields from a JSON-like dict, refusing unknown names and wrong types (ValueError) before changing any."""
        known = {f.name: f for f in fields(self)}
        changes = {}
        for name, value in values.items():
            setting = known.get(name)
            if setting is None:
                raise ValueError(f"unknown setting {name!r}")
            kind, is_list = setting.metadata["kind"], setting.metadata.get("action") == "append"
            if value is None and setting.metadata["optional"]:
                changes[name] = None
            elif is_list and isinstance(value, list) and value and all(_is_kind(kind, v) for v in value):
                changes[name] = [kind(v) for v in value]
            elif not is_list and _is_kind(kind, value):
                changes[name] = kind(value)
            else:
                expected = f"a non-empty list of {kind.__name__}" if is_list else kind.__name__
                raise ValueError(f"{name} must be {expected}")
        if changes.get("over_concurrency", self.over_concurrency) not in OVER_CONCURRENCY:
            raise ValueError(f"over_concurrency must be one of {', '.join(OVER_CONCURRENCY)}")
        for name, value in changes.items():
            setattr(self, name, value)

    def as_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}
