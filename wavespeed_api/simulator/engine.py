"""The simulator's memory and rules: predictions, uploads, limits, fault dice and counters, behind one lock.

Nothing here speaks HTTP; server.py maps requests onto these methods. A prediction's status is computed from
timestamps on every read, so no thread runs per prediction except for webhook delivery.
"""

import json
import random
import re
import secrets
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from . import images
from .config import SimulatorConfig
from .prediction import FAILURE_TEXTS, FINAL_STATUSES, SOURCE_UNAVAILABLE_CODE, Prediction
from .validation import MAX_SEED
from .webhooks import deliver_webhook

RATE_WINDOW_SECONDS = 60.0
LOCAL_FILE = re.compile(
    r"^/(?:media/(?P<token>[^/]+)/(?P<filename>[^/]+)|outputs/(?P<prediction_id>[^/]+)/(?P<index>\d+)\.(?P<ext>jpeg|png))$"
)
FAULT_KINDS = ("poll_error", "malformed", "download_error", "upload_error", "slow", "submit_error", "submit_timeout")
# Counters of authorised requests (401s count only in rejected_401), except where noted.
COUNTERS = (
    "submits",  # predictions accepted
    "submit_requests",  # submit POSTs, refused ones (400, 429) included
    "polls",  # result GETs, injected faults and 404s included
    "downloads",  # output-file GETs (no auth)
    "uploads",  # media files stored
    "deletes",  # predictions deleted
    "waited",  # predictions accepted over the concurrency limit, which waited for a slot
    "foreign",  # tasks "other clients" of the account started (foreign_rate): in the history only
    "rejected_400",
    "rejected_401",  # any /api/v3 request without a valid key
    "rejected_429",
    "webhooks_sent",  # events acknowledged with a 2xx
    "webhook_attempts",  # POSTs to webhook URLs, retries included
    "webhooks_failed",  # events given up after the last retry
)


class LimitExceeded(Exception):
    """A 429: too many predictions in flight or too many images this minute."""


def _short_image(url):
    """Source URLs for stats; data: URIs can be megabytes, so only their start is kept."""
    return url if len(url) <= 100 or not url.startswith("data:") else url[:100] + "..."


def _safe_filename(filename):
    name = re.sub(r"[^\w.-]+", "_", (filename or "").replace("\\", "/").rsplit("/", 1)[-1]).strip("._")
    return name or "upload"


class SimulatorEngine:
    def __init__(self, config: SimulatorConfig, base_url):
        self.config = config
        self.base_url = base_url
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._dice = random.Random(config.seed)
        self._dice_seed = config.seed
        self._predictions = {}
        self._in_flight = {}  # id -> Prediction, pruned as they finish
        self._accepted_images = defaultdict(deque)  # api key -> deque of (time, num_images)
        self._media = {}  # token -> (filename, bytes, content type)
        self._counters = Counter()
        self._faults = Counter()
        self._polls_by_prediction = Counter()
        self._max_in_flight = 0
        self._renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simulator-render")

    # --- dice and counters -------------------------------------------------------------------------------

    def _roll_locked(self, rate):
        if self.config.seed != self._dice_seed:  # a new seed set at runtime restarts the dice
            self._dice = random.Random(self.config.seed)
            self._dice_seed = self.config.seed
        return rate > 0 and self._dice.random() < rate

    def stop_rendering(self):
        self._renderer.shutdown(wait=False, cancel_futures=True)

    def inject(self, fault):
        """True when this request should suffer `fault`, rolled against config.<fault>_rate and counted."""
        with self._lock:
            hit = self._roll_locked(getattr(self.config, f"{fault}_rate"))
            if hit:
                self._faults[fault] += 1
            return hit

    def pick(self, options):
        """A choice made with the simulator's seeded dice, so fault runs replay exactly."""
        with self._lock:
            self._roll_locked(0)
            return self._dice.choice(options)

    def count(self, counter):
        with self._lock:
            self._counters[counter] += 1

    def authorized(self, authorization_header):
        """The Bearer key if it may call the API, else None. With no configured key any non-empty key passes."""
        scheme, _, key = (authorization_header or "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return None
        expected = self.config.api_key
        if expected is not None and not secrets.compare_digest(key.encode(), expected.encode()):
            return None
        return key

    def _note_in_flight_locked(self, now):
        for prediction_id, prediction in list(self._in_flight.items()):
            if prediction.deleted or now >= prediction.finishes_at:
                del self._in_flight[prediction_id]
        self._max_in_flight = max(self._max_in_flight, len(self._in_flight))

    # --- predictions ---------------------------------------------------------------------------------------

    def submit(self, api_key, params, webhook_url, public_base):
        """Accept a validated submission (LimitExceeded when over a limit) and return its Prediction.

        The source image is fetched and decoded here so the final status is known from the start; a source that
        cannot be read still makes a prediction, which ends failed with code 1402 like WaveSpeed's.
        """
        try:
            content = images.fetch_source_bytes(params["image"], lambda url: self.read_local_url(url, public_base))
            source = images.decode_source(content, max(params["size"]))
            failure = None
        except images.SourceUnavailable as exc:
            source, failure = None, (SOURCE_UNAVAILABLE_CODE, f"{FAILURE_TEXTS[SOURCE_UNAVAILABLE_CODE]}: {exc}")
        now = time.time()
        config = self.config
        with self._lock:
            self._note_in_flight_locked(now)
            starts_at = self._check_limits_locked(api_key, params["num_images"], now)
            if failure is None and self._roll_locked(config.fail_rate):
                code = self._dice.choice(config.fail_codes)
                failure = (code, f"{FAILURE_TEXTS.get(code, 'task failed')} (simulated failure)")
            end_status = ""
            if failure is None and self._roll_locked(config.cancel_rate):
                end_status = "cancelled"
            elif failure is None and self._roll_locked(config.timeout_rate):
                end_status = "timeout"
            seed = params["seed"] if params["seed"] != -1 else self._dice.randint(0, MAX_SEED)
            check_safety = params["enable_safety_checker"]
            nsfw_flags = (
                []
                if failure or end_status
                else [check_safety and self._roll_locked(config.nsfw_rate) for _ in range(params["num_images"])]
            )
            duration = max(
                0.0, config.latency * (1 + self._dice.uniform(-config.latency_jitter, config.latency_jitter))
            )
            prediction = Prediction(
                id=uuid.uuid4().hex,
                api_key=api_key,
                params=params,
                seed=seed,
                public_base=public_base,
                webhook_url=webhook_url,
                submitted_at=now,
                starts_at=starts_at,
                finishes_at=starts_at + duration,
                failure_code=failure[0] if failure else None,
                error=failure[1] if failure else "",
                end_status=end_status,
                nsfw_flags=nsfw_flags,
                source=None if failure or end_status else source,
            )
            self._predictions[prediction.id] = prediction
            self._in_flight[prediction.id] = prediction
            self._accepted_images[api_key].append((now, params["num_images"]))
            self._counters["submits"] += 1
            self._counters["waited"] += starts_at > now
            if self._roll_locked(config.foreign_rate):
                self._add_foreign_locked(prediction, source, now)
            self._note_in_flight_locked(now)
        if webhook_url:
            threading.Thread(
                target=self._send_webhook, args=(prediction,), daemon=True, name=f"webhook-{prediction.id}"
            ).start()
        if prediction.source is not None:
            self._renderer.submit(self._render_ahead, prediction)
        return prediction

    def _add_foreign_locked(self, beside, source, now):
        """A task of the same model started by another client of the account (the website, another key) about
        the same moment: it shows in the history, which is account-wide, and nowhere else."""
        created = now + self._dice.uniform(-2.0, 2.0)
        foreign = Prediction(
            id=uuid.uuid4().hex,
            api_key=beside.api_key,
            params=beside.params,
            seed=self._dice.randint(0, MAX_SEED),
            public_base=beside.public_base,
            webhook_url="",
            submitted_at=created,
            finishes_at=created + self.config.latency,
            failure_code=None,
            error="",
            nsfw_flags=[False] * beside.params["num_images"],
            source=source,
            foreign=True,
        )
        self._predictions[foreign.id] = foreign
        self._counters["foreign"] += 1

    def _render_ahead(self, prediction):
        """Render outputs while the prediction "runs", so they are ready when it completes, as WaveSpeed's are.

        Rendering on the first read instead would add the render time to that poll and to the webhook.
        """
        if not self.stopping.is_set():
            prediction.rendered_outputs()

    def _check_limits_locked(self, api_key, num_images, now):
        """When the new task may start: now, or (over the concurrency limit) once enough earlier ones finish,
        as WaveSpeed's account-levels page says; LimitExceeded over the per-minute limit, or over the
        concurrency limit when over_concurrency is "refuse". A task deleted while others wait does not move
        their start earlier: the schedule is fixed when each is accepted."""
        config = self.config
        finishing = sorted(p.finishes_at for p in self._in_flight.values() if p.api_key == api_key)
        over = bool(config.concurrency) and len(finishing) >= config.concurrency
        if over and config.over_concurrency == "refuse":
            self._counters["rejected_429"] += 1
            raise LimitExceeded(f"Too many concurrent tasks: at most {config.concurrency} may run at once")
        accepted = self._accepted_images[api_key]
        while accepted and accepted[0][0] <= now - RATE_WINDOW_SECONDS:
            accepted.popleft()
        if config.per_minute and sum(n for _, n in accepted) + num_images > config.per_minute:
            self._counters["rejected_429"] += 1
            raise LimitExceeded(f"Rate limit exceeded: at most {config.per_minute} images per minute")
        return max(now, finishing[len(finishing) - config.concurrency]) if over else now

    def get(self, prediction_id):
        """The live prediction, or None (unknown or deleted)."""
        with self._lock:
            prediction = self._predictions.get(prediction_id)
            self._note_in_flight_locked(time.time())
            return prediction if prediction and not prediction.deleted else None

    def record_poll(self, prediction_id):
        with self._lock:
            self._counters["polls"] += 1
            if prediction_id in self._predictions:
                self._polls_by_prediction[prediction_id] += 1

    def wait_until_finished(self, prediction):
        """Block (sync mode) until the prediction's finish time, or until the simulator stops."""
        self.stopping.wait(max(0.0, prediction.finishes_at - time.time()))

    def delete(self, prediction_id):
        """Mark deleted (its concurrency slot frees at once) and drop its images. False when unknown."""
        with self._lock:
            prediction = self._predictions.get(prediction_id)
            if prediction is None or prediction.deleted:
                return False
            prediction.deleted = True
            prediction.forget_images()
            self._counters["deletes"] += 1
            self._note_in_flight_locked(time.time())
            return True

    def view(self, prediction):
        return prediction.to_api(time.time())

    def list_predictions(self, api_key, page, page_size, status):
        now = time.time()
        with self._lock:
            mine = [p for p in self._predictions.values() if p.api_key == api_key and not p.deleted]
        mine.sort(key=lambda p: p.submitted_at, reverse=True)
        if status:
            mine = [p for p in mine if p.status(now) == status]
        start = (page - 1) * page_size
        return {
            "items": [self.view(p) for p in mine[start : start + page_size]],
            "page": page,
            "page_size": page_size,
            "total": len(mine),
        }

    # --- files ------------------------------------------------------------------------------------------------

    def store_upload(self, filename, content, content_type, public_base):
        token = secrets.token_hex(12)
        name = _safe_filename(filename)
        with self._lock:
            self._media[token] = (name, content, content_type)
            self._counters["uploads"] += 1
        return {
            "type": "image",
            "download_url": f"{public_base}/media/{token}/{name}",
            "filename": name,
            "size": len(content),
        }

    def media(self, token, filename):
        """(bytes, content type) of an uploaded file, or None."""
        with self._lock:
            stored = self._media.get(token)
        if stored is None or stored[0] != filename:
            return None
        return stored[1], stored[2]

    def output(self, prediction_id, index, extension):
        """(bytes, content type) of a completed prediction's output file, or None."""
        prediction = self.get(prediction_id)
        if prediction is None or prediction.status(time.time()) != "completed" or prediction.extension != extension:
            return None
        outputs = prediction.rendered_outputs()
        return (outputs[index], f"image/{extension}") if index < len(outputs) else None

    def read_local_url(self, url, public_base):
        """Bytes behind one of our own /media or /outputs URLs straight from memory, or None for any other URL."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" not in (self.base_url, public_base):
            return None
        match = LOCAL_FILE.match(parts.path)
        if not match:
            return None
        if match["token"]:
            found = self.media(match["token"], match["filename"])
        else:
            found = self.output(match["prediction_id"], int(match["index"]), match["ext"])
        return found[0] if found else None

    # --- webhooks ---------------------------------------------------------------------------------------------

    def _send_webhook(self, prediction):
        """Wait for the prediction to finish, then deliver its final object once (with retries) unless deleted."""
        if self.stopping.wait(max(0.0, prediction.finishes_at - time.time())) or prediction.deleted:
            return
        raw_body = json.dumps(self.view(prediction)).encode()
        delivered = deliver_webhook(
            prediction.webhook_url,
            f"msg_{uuid.uuid4().hex}",
            raw_body,
            self.config.webhook_secret,
            self.config.webhook_backoff,
            self.stopping,
            on_attempt=lambda: self.count("webhook_attempts"),
        )
        self.count("webhooks_sent" if delivered else "webhooks_failed")

    # --- stats ------------------------------------------------------------------------------------------------

    def stats(self):
        """A snapshot: the COUNTERS, polls_by_prediction {id: n}, max_in_flight and in_flight (all keys together),
        faults {kind: n} injected, and predictions {id: {status, submitted_at, finished_at, num_images, seed, image,
        error_code, foreign}} where finished_at is the unix time it reached a final status (None before), deleted
        ones keep their record with status "deleted", and foreign ones are other clients' (foreign_rate).
        """
        now = time.time()
        with self._lock:
            self._note_in_flight_locked(now)
            predictions = {}
            for prediction in self._predictions.values():
                status = prediction.status(now)
                predictions[prediction.id] = {
                    "status": status,
                    "submitted_at": prediction.submitted_at,
                    "finished_at": prediction.finishes_at if status in FINAL_STATUSES else None,
                    "num_images": prediction.params["num_images"],
                    "seed": prediction.seed,
                    "image": _short_image(prediction.params["image"]),
                    "error_code": prediction.failure_code,
                    "foreign": prediction.foreign,
                }
            return {
                **{name: self._counters[name] for name in COUNTERS},
                "polls_by_prediction": dict(self._polls_by_prediction),
                "max_in_flight": self._max_in_flight,
                "in_flight": len(self._in_flight),
                "faults": {kind: self._faults[kind] for kind in FAULT_KINDS},
                "predictions": predictions,
            }
