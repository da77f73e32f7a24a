"""The only code that speaks HTTP to WaveSpeed. Every call has a timeout; every failure is a typed error.

The rules follow WaveSpeed's official clients: result GETs are retried on 429/5xx with backoff,
a submit POST is never re-sent once it may have reached WaveSpeed, and any answer to it other than
a task id or a clear 4xx refusal is ambiguous.
"""

import logging
import math
import re
import threading
import time
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from .answers import HistoryItem, Prediction, Quote, parse_time
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
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.wavespeed.ai"
MODEL_ID = "wavespeed-ai/flux-redux-dev"
SUBMIT_PATH = f"/api/v3/{MODEL_ID}"
MAX_DOWNLOAD_BYTES = 60 * 1024 * 1024
# A refusal for lack of credit: WaveSpeed documents no code for it, so its message tells (inferred).
BALANCE_REFUSAL = re.compile(r"insufficient|balance|not enough (credit|fund)|top.?up", re.IGNORECASE)
HOSTS_KEPT = 4  # hosts a session keeps connections to: the API and the hosts outputs are downloaded from


def keep_alive_session(connections=10):
    """A requests.Session whose keep-alive pool holds at most `connections` per host, and never opens more:
    a thread finding all in use waits for one (pool_block) rather than open one to throw away after."""
    session = requests.Session()
    session.headers["User-Agent"] = "fluxsite"
    adapter = HTTPAdapter(pool_connections=HOSTS_KEPT, pool_maxsize=connections, pool_block=True)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _amount(value):
    """A USD amount as a finite, non-negative Decimal (ValueError otherwise)."""
    amount = Decimal(str(value))
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"not an amount: {value}")
    return amount


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


def _refusal(status, text, http_status, code, message):
    """The typed error for a 4xx refusal (`status`: the HTTP status, or the envelope's code)."""
    if status == 401:
        return Unauthorized(text, http_status, code)
    if status == 402 or (status in (400, 403) and BALANCE_REFUSAL.search(message)):
        return InsufficientBalance(text, http_status, code)
    if status == 403:
        return Forbidden(text, http_status, code)
    if status == 404:
        return NotFound(text, http_status, code)
    if status == 429:
        return RateLimited(text, http_status, code)
    return BadRequest(text, http_status, code)


def _raise_for_status(response):
    if response.status_code < 400:
        return
    message, code = _error_text(response)
    status = response.status_code
    text = f"WaveSpeed answered {status}: {message}".rstrip(": ")
    if status >= 500:
        raise ServerError(text, status, code)
    raise _refusal(status, text, status, code, message)


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
        if str(code).startswith("5"):  # 5xx, or a task code 5000/5003/5004; task codes 1xxx are final
            raise ServerError(f"WaveSpeed failed: {message}", response.status_code, code)
        try:
            status = int(code)
        except (TypeError, ValueError):
            status = 400
        raise _refusal(status, f"WaveSpeed refused: {message}", response.status_code, code, message)
    data = body.get("data")
    if not isinstance(data, dict):
        raise MalformedResponse("WaveSpeed answered without a data object", response.status_code)
    return data


class WaveSpeedClient:
    """WaveSpeed's API for one base URL and key, over a keep-alive session (its own, or `session`, which
    several clients may share). Safe to share between threads: a call keeps its state in locals; the only
    attributes that change are the request count (under a lock) and delete_by_ids, which only ever goes
    from True to False."""

    def __init__(self, api_key, base_url=DEFAULT_BASE_URL, timeout=(5, 30), retry_backoff=0.5, retries=3, session=None):
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry_backoff = retry_backoff
        self.retries = retries
        self.session = session or keep_alive_session()
        self.requests_sent = 0  # each retry counts
        self.count_lock = threading.Lock()
        self.delete_by_ids = True  # False once this WaveSpeed answered 404/405 to the batch delete form

    def _count_request(self):
        with self.count_lock:
            self.requests_sent += 1

    def _headers(self):
        return {"Authorization": f"Bearer {self.api_key}"}

    def _request(self, method, path, **kwargs):
        self._count_request()
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
        """POST a prediction. Returns the Prediction. Never retried: see AmbiguousSubmit.

        Only two answers are clear: a 2xx carrying a task id, and a 4xx (or an envelope code) refusing
        the request. Anything else, a 5xx included (a gateway can fail after the task was created),
        is an AmbiguousSubmit.
        """
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
        status = response.status_code
        if 400 <= status < 500:
            _raise_for_status(response)
        if not 200 <= status < 300:
            message, code = _error_text(response)
            raise AmbiguousSubmit(f"WaveSpeed answered {status} to the submit; the task may exist: {message}", status, code)
        try:
            return Prediction.from_data(_envelope_data(response))
        except (MalformedResponse, ServerError) as exc:
            raise AmbiguousSubmit(f"unclear answer to the submit: {exc.message}", status, exc.code) from exc

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
        """Delete a prediction (which cancels it, though maybe not at once). Returns once WaveSpeed says
        it deleted it; NotFound when it deleted nothing (the task may still run), other errors as typed.

        The API reference's `POST /api/v3/predictions/delete {"ids": [...]}` first; where that form is
        unknown (404/405), the how-to page's `DELETE /api/v3/predictions/{id}`, remembered per client.
        """
        if self.delete_by_ids:
            deleted = self._with_retries(lambda: self._delete_by_ids(prediction_id))
            if deleted is not None:
                if deleted < 1:
                    raise NotFound(f"WaveSpeed deleted nothing for prediction {prediction_id}")
                return
            self.delete_by_ids = False
        self._with_retries(lambda: self._delete_one(prediction_id))

    def _delete_by_ids(self, prediction_id):
        """deleted_count of the batch form, or None when this WaveSpeed does not know that form."""
        response = self._request("POST", "/api/v3/predictions/delete", json={"ids": [prediction_id]})
        if response.status_code in (404, 405):
            return None
        _raise_for_status(response)
        try:
            count = int(_envelope_data(response)["deleted_count"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise MalformedResponse("delete answered without deleted_count") from exc
        if not 0 <= count <= 1:  # one id was asked for
            raise MalformedResponse(f"delete answered deleted_count {count}")
        return count

    def _delete_one(self, prediction_id):
        response = self._request("DELETE", f"/api/v3/predictions/{prediction_id}")
        _raise_for_status(response)

    def balance(self):
        def call():
            response = self._request("GET", "/api/v3/balance")
            _raise_for_status(response)
            try:
                balance = float(_envelope_data(response)["balance"])
            except (KeyError, TypeError, ValueError) as exc:
                raise MalformedResponse("balance answered without a number") from exc
            if not math.isfinite(balance):
                raise MalformedResponse("balance answered without a finite number")
            return balance

        return self._with_retries(call)

    def price(self, params):
        """WaveSpeed's Quote for one run with `params` (the seed does not change it).

        The official clients' `POST /api/v3/model/price` (`price`, and `discounted_price` when a discount
        applies) first, then the docs page's `/api/v3/model/pricing` (`data.unit_price`). Raises when
        neither answers with a number: an unknown price is never zero.
        """
        inputs = {name: value for name, value in params.items() if name != "seed"}
        body = {"model_id": MODEL_ID, "inputs": inputs}
        try:
            return self._with_retries(lambda: self._quote("/api/v3/model/price", body))
        except Unauthorized:
            raise
        except WaveSpeedError as exc:
            log.info("WaveSpeed's price endpoint failed (%s); asking its pricing endpoint", exc.message)
        return self._with_retries(lambda: self._quote("/api/v3/model/pricing", body, per_image=inputs.get("num_images", 1)))

    def _quote(self, path, body, per_image=None):
        """One price endpoint's answer, enveloped or bare. `per_image`: the number of images, for the
        pricing endpoint's unit price (per image, inferred: counting it per image never under-counts)."""
        response = self._request("POST", path, json=body)
        _raise_for_status(response)
        try:
            answer = response.json()
        except ValueError as exc:
            raise MalformedResponse("price answered with a body that is not JSON") from exc
        data = _envelope_data(response) if isinstance(answer, dict) and "data" in answer else answer
        try:
            if per_image is None:
                price = _amount(data["price"])
                discounted = data.get("discounted_price")
                charged = price if discounted is None else _amount(discounted)
                return Quote(price=price, charged=min(charged, price), endpoint="price")
            price = _amount(data["unit_price"]) * int(per_image)
            return Quote(price=price, charged=price, endpoint="pricing")
        except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
            raise MalformedResponse(f"price answered without a number: {exc}") from exc

    def history(self, page=1, page_size=100):
        """One page of the account's recent tasks (7 days), newest first: [HistoryItem].

        The whole account's, asked for this model: the website and other keys show up too. Answered as
        WaveSpeed's desktop app reads it, `data.items` (or `predictions`); an item whose time cannot be
        read keeps created_at None rather than failing the page.
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
                return [
                    HistoryItem(
                        id=str(item["id"]),
                        model=str(item.get("model") or ""),
                        status=str(item.get("status") or ""),
                        created_at=parse_time(item.get("created_at")),
                    )
                    for item in items
                ]
            except (KeyError, TypeError, AttributeError) as exc:
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
            self._count_request()
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
