"""The only code that speaks HTTP to WaveSpeed. Every call has a timeout; every failure is a typed error.

The rules follow WaveSpeed's official clients: result GETs are retried on 429/5xx with backoff,
a submit POST is never re-sent once it may have reached WaveSpeed.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NewConnectionError

from .errors import (
    AmbiguousSubmit,
    BadRequest,
    MalformedResponse,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.wavespeed.ai"
MODEL_ID = "wavespeed-ai/flux-redux-dev"
SUBMIT_PATH = f"/api/v3/{MODEL_ID}"
MAX_DOWNLOAD_BYTES = 60 * 1024 * 1024


@dataclass
class Prediction:
    id: str
    status: str  # created | processing | completed | failed
    outputs: list = field(default_factory=list)
    has_nsfw_contents: list = field(default_factory=list)
    error: str = ""
    inference_ms: int | None = None
    error_code: str = ""

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
                inference_ms=int(inference) if inference is not None else None,
                error_code=str(data.get("error_code") or data.get("code") or ""),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedResponse(f"unreadable prediction: {exc}") from exc
        if prediction.status not in ("created", "processing", "completed", "failed"):
            raise MalformedResponse(f"unknown prediction status {prediction.status!r}")
        return prediction


def _error_text(response):
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason or "")[:300], None
    if not isinstance(body, dict):
        return str(body)[:300], None
    return str(body.get("message") or body.get("error") or response.reason or ""), body.get("error_code") or body.get("code")


def _never_connected(exc):
    """True when the connection was never made (refused, name not resolved): nothing reached WaveSpeed.

    requests wraps these as ConnectionError(MaxRetryError(reason=NewConnectionError)); anything
    else (a reset or dropped connection) may have happened after the request was sent.
    """
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _raise_for_status(response):
    if response.status_code < 400:
        return
    message, code = _error_text(response)
    status = response.status_code
    text = f"WaveSpeed answered {status}: {message}".rstrip(": ")
    if status == 401:
        raise Unauthorized(text, status, code)
    if status == 404:
        raise NotFound(text, status, code)
    if status == 429:
        raise RateLimited(text, status, code)
    if status >= 500:
        raise ServerError(text, status, code)
    raise BadRequest(text, status, code)


def _envelope_data(response):
    """The `data` of a {code, message, data} envelope; an envelope code other than 200 is an error."""
    try:
        body = response.json()
    except ValueError as exc:
        raise MalformedResponse("WaveSpeed answered with a body that is not JSON", response.status_code) from exc
    if not isinstance(body, dict):
        raise MalformedResponse("WaveSpeed answered with JSON that is not an object", response.status_code)
    code = body.get("code", 200)
    if str(code) != "200":
        message = str(body.get("message") or "")
        if str(code) == "401":
            raise Unauthorized(f"WaveSpeed refused: {message}", response.status_code, code)
        if str(code) == "429":
            raise RateLimited(f"WaveSpeed refused: {message}", response.status_code, code)
        if str(code).startswith("5"):  # 5xx, or a task code 5000/5003/5004; task codes 1xxx are final
            raise ServerError(f"WaveSpeed failed: {message}", response.status_code, code)
        raise BadRequest(f"WaveSpeed refused: {message}", response.status_code, code)
    data = body.get("data")
    if not isinstance(data, dict):
        raise MalformedResponse("WaveSpeed answered without a data object", response.status_code)
    return data


class WaveSpeedClient:
    """A requests.Session bound to one base URL and key. Not shared between threads."""

    def __init__(self, api_key, base_url=DEFAULT_BASE_URL, timeout=(5, 30), retry_backoff=0.5, retries=3):
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry_backoff = retry_backoff
        self.retries = retries
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "fluxsite"
        self.requests_sent = 0

    def _headers(self):
        return {"Authorization": f"Bearer {self.api_key}"}

    def _request(self, method, path, **kwargs):
        self.requests_sent += 1
        return self.session.request(method, self.base_url + path, headers=self._headers(), timeout=self.timeout, **kwargs)

    def _with_retries(self, call):
        """Run a call that is safe to repeat, retrying 429, 5xx, unreadable bodies and network errors."""
        delay = self.retry_backoff
        for attempt in range(self.retries + 1):
            try:
                return call()
            except (RateLimited, ServerError, MalformedResponse) as exc:
                error = exc
            except requests.RequestException as exc:
                error = ServerError(f"WaveSpeed unreachable: {type(exc).__name__}")
            if attempt == self.retries:
                raise error
            log.info("retrying WaveSpeed call after %s", error.message)
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def submit(self, image_url, params, webhook_url=""):
        """POST a prediction. Returns the Prediction. Never retried: see AmbiguousSubmit."""
        query = {"webhook": webhook_url} if webhook_url else None
        try:
            response = self._request("POST", SUBMIT_PATH, json={"image": image_url, **params}, params=query)
        except (requests.ConnectTimeout, requests.exceptions.SSLError) as exc:
            # The connection was never made: nothing reached WaveSpeed.
            raise ServerError(f"WaveSpeed unreachable: {type(exc).__name__}") from exc
        except requests.ConnectionError as exc:
            if _never_connected(exc):
                raise ServerError(f"WaveSpeed unreachable: {type(exc.args[0].reason).__name__}") from exc
            raise AmbiguousSubmit(f"connection lost during submit: {type(exc).__name__}") from exc
        except requests.RequestException as exc:
            raise AmbiguousSubmit(f"no answer to the submit: {type(exc).__name__}") from exc
        if response.status_code == 504:
            raise AmbiguousSubmit("WaveSpeed answered 504 to the submit; the task may still run", 504)
        _raise_for_status(response)
        try:
            return Prediction.from_data(_envelope_data(response))
        except MalformedResponse as exc:
            raise AmbiguousSubmit(f"unreadable answer to the submit: {exc.message}", response.status_code) from exc

    def get_result(self, prediction_id):
        """GET a prediction's state, retrying transient failures with backoff."""

        def call():
            response = self._request("GET", f"/api/v3/predictions/{prediction_id}/result")
            _raise_for_status(response)
            return Prediction.from_data(_envelope_data(response))

        return self._with_retries(call)

    def upload_media(self, filename, content, content_type):
        """Upload bytes with the binary endpoint; returns the download URL to use as `image`."""

        def call():
            response = self._request("POST", "/api/v3/media/upload/binary", files={"file": (filename, content, content_type)})
            _raise_for_status(response)
            data = _envelope_data(response)
            url = data.get("download_url")
            if not url:
                raise MalformedResponse("media upload answered without download_url")
            return url

        return self._with_retries(call)

    def delete_prediction(self, prediction_id):
        """DELETE a prediction (cancel). A prediction already gone counts as deleted."""

        def call():
            response = self._request("DELETE", f"/api/v3/predictions/{prediction_id}")
            if response.status_code == 404:
                return "deleted"
            _raise_for_status(response)
            return str(_envelope_data(response).get("status", ""))

        return self._with_retries(call)

    def balance(self):
        def call():
            response = self._request("GET", "/api/v3/balance")
            _raise_for_status(response)
            try:
                return float(_envelope_data(response)["balance"])
            except (KeyError, TypeError, ValueError) as exc:
                raise MalformedResponse("balance answered without a number") from exc

        return self._with_retries(call)

    def price(self, params):
        """WaveSpeed's price in USD (a Decimal) for one run with `params` (the seed does not change it)."""
        inputs = {name: value for name, value in params.items() if name != "seed"}

        def call():
            response = self._request("POST", "/api/v3/model/price", json={"model_id": MODEL_ID, "inputs": inputs})
            _raise_for_status(response)
            try:
                body = response.json()
            except ValueError as exc:
                raise MalformedResponse("price answered with a body that is not JSON") from exc
            data = _envelope_data(response) if isinstance(body, dict) and "data" in body else body
            try:
                value = Decimal(str(data["price"]))
            except (KeyError, TypeError, InvalidOperation) as exc:
                raise MalformedResponse("price answered without a number") from exc
            if not value.is_finite() or value < 0:
                raise MalformedResponse(f"price answered {value}")
            return value

        return self._with_retries(call)

    def recent_predictions(self, page=1, page_size=100):
        """One page of the key's recent predictions (7 days), newest first: [(id, created_at)].

        The shape of this listing's `data` is inferred (WaveSpeed documents only the request):
        `items` (or `predictions`) of prediction objects. Anything else is a MalformedResponse.
        """

        def call():
            response = self._request(
                "POST", "/api/v3/predictions", json={"page": page, "page_size": page_size, "model": MODEL_ID}
            )
            _raise_for_status(response)
            data = _envelope_data(response)
            items = data.get("items", data.get("predictions"))
            if not isinstance(items, list):
                raise MalformedResponse("prediction listing without items")
            try:
                return [(str(item["id"]), datetime.fromisoformat(item["created_at"])) for item in items]
            except (KeyError, TypeError, ValueError) as exc:
                raise MalformedResponse(f"unreadable prediction listing: {exc}") from exc

        return self._with_retries(call)

    def webhook_secret(self):
        def call():
            response = self._request("GET", "/api/v3/webhook/secret")
            _raise_for_status(response)
            secret = _envelope_data(response).get("secret")
            if not secret:
                raise MalformedResponse("webhook secret answered without a secret")
            return str(secret)

        return self._with_retries(call)

    def download(self, url):
        """GET an output file; returns its bytes. The API key goes only to WaveSpeed's own host."""

        def call():
            same_host = urlsplit(url).netloc == urlsplit(self.base_url).netloc
            self.requests_sent += 1
            try:
                response = self.session.get(url, headers=self._headers() if same_host else None, timeout=self.timeout, stream=True)
            except requests.RequestException as exc:
                raise ServerError(f"output download failed: {type(exc).__name__}") from exc
            with response:
                if response.status_code == 404:
                    raise ServerError("output download answered 404", 404)
                _raise_for_status(response)
                chunks, total = [], 0
                try:
                    for chunk in response.iter_content(256 * 1024):
                        total += len(chunk)
                        if total > MAX_DOWNLOAD_BYTES:
                            raise BadRequest("output larger than the download limit")
                        chunks.append(chunk)
                except requests.RequestException as exc:
                    raise ServerError(f"output download broke off: {type(exc).__name__}") from exc
                return b"".join(chunks)

        return self._with_retries(call)
