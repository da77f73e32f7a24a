"""The simulator's HTTP face: WaveSpeed's routes, envelopes and error shapes, plus the test-only /_sim routes."""

import json
import logging
import re
import threading
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .config import SimulatorConfig
from .engine import LimitExceeded, SimulatorEngine
from .prediction import MODEL_ID
from .validation import (
    InvalidRequest,
    validate_delete_request,
    validate_listing,
    validate_price_request,
    validate_submission,
)

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024  # room for the multipart framing around a 20 MB file
POLL_ERROR_STATUSES = (500, 502, 503)
SIMULATOR_HEADER = "X-Simulator"
SIMULATOR_HEADER_VALUE = "fluxsite test double"

ROUTES = [
    ("POST", rf"/api/v3/{MODEL_ID}", "submit"),
    ("GET", r"/api/v3/predictions/(?P<prediction_id>[^/]+)/result", "result"),
    ("POST", r"/api/v3/predictions/delete", "delete_many"),  # the API reference's form
    ("DELETE", r"/api/v3/predictions/(?P<prediction_id>[^/]+)", "delete"),  # a how-to page's form
    ("POST", r"/api/v3/predictions", "list_predictions"),
    ("POST", r"/api/v3/media/upload/binary", "upload"),
    ("GET", r"/api/v3/balance", "balance"),
    ("GET", r"/api/v3/webhook/secret", "webhook_secret"),
    ("POST", r"/api/v3/model/price", "price"),  # the official CLI's and MCP server's
    ("POST", r"/api/v3/model/pricing", "pricing"),  # the docs' pricing page's
    ("GET", r"/media/(?P<token>[^/]+)/(?P<filename>[^/]+)", "media"),
    ("GET", r"/outputs/(?P<prediction_id>[^/]+)/(?P<index>\d+)\.(?P<extension>jpeg|png)", "output"),
    # Test-only control routes; WaveSpeed has nothing like them.
    ("GET", r"/_sim/stats", "sim_stats"),
    ("GET", r"/_sim/config", "sim_config"),
    ("POST", r"/_sim/config", "sim_config"),
]
COMPILED_ROUTES = [(method, re.compile(f"^{pattern}$"), name) for method, pattern, name in ROUTES]


class HttpError(Exception):
    """Answered as {"code": status, "message": message} with that HTTP status."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def parse_json(body):
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise HttpError(400, "the body is not valid JSON") from exc


def parse_multipart_file(content_type, body, field_name="file"):
    """(filename, bytes, content type) of one field of a multipart/form-data body (the cgi module is gone)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise HttpError(400, "the upload must be multipart/form-data")
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == field_name:
            return part.get_filename() or "", part.get_payload(decode=True) or b"", part.get_content_type()
    raise HttpError(400, f"the upload has no field named {field_name!r}")


class SimulatorRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API behind its CDN
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body then waits for the
    # client's delayed ACK, adding ~40 ms to every request on a kept-alive connection.
    disable_nagle_algorithm = True
    server_version = "WaveSpeedSimulator"
    timeout = 30  # idle keep-alive connections give their thread back

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def log_message(self, message_format, *args):
        log.debug("%s %s", self.address_string(), message_format % args)

    def end_headers(self):
        """Every answer, errors from http.server included, says it comes from a test double."""
        self.send_header(SIMULATOR_HEADER, SIMULATOR_HEADER_VALUE)
        super().end_headers()

    @property
    def engine(self) -> SimulatorEngine:
        return self.server.engine

    @property
    def public_base(self):
        """scheme://host as the client addressed us, so handed-out URLs work from wherever it stands."""
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.engine.base_url

    def _dispatch(self, method):
        url = urlsplit(self.path)
        try:
            body = self._read_body()
            handler, path_params = self._route(method, url.path)
            if not url.path.startswith("/_sim/") and self.engine.inject("slow"):
                self.engine.stopping.wait(self.engine.config.slow_seconds)
            if url.path.startswith("/api/v3/"):
                self.api_key = self.engine.authorized(self.headers.get("Authorization"))
                if self.api_key is None:
                    self.engine.count("rejected_401")
                    raise HttpError(401, "Unauthorized")
            handler(body=body, query=parse_qs(url.query), **path_params)
        except ConnectionError:
            self.close_connection = True  # the client went away mid-answer
        except HttpError as exc:
            if exc.status == 400:
                self.engine.count("rejected_400")
            self._send_json(exc.status, {"code": exc.status, "message": exc.message})
        except Exception:
            log.exception("simulator error on %s %s", method, self.path)
            self._send_json(500, {"code": 500, "message": "simulator error"})

    def _read_body(self):
        """The whole request body (it must be consumed for keep-alive); a too-large one is drained, then refused."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True  # the unread chunks would otherwise be taken for the next request
            raise HttpError(411, "Content-Length is required")
        length = int(self.headers.get("Content-Length") or 0)
        if length <= MAX_BODY_BYTES:
            return self.rfile.read(length)
        while length > 0:
            chunk = self.rfile.read(min(length, 1024 * 1024))
            if not chunk:
                break
            length -= len(chunk)
        raise HttpError(400, "the request body is larger than 20 MB")

    def _route(self, method, path):
        allowed = False
        for route_method, pattern, name in COMPILED_ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                return getattr(self, f"route_{name}"), match.groupdict()
            allowed = allowed or bool(match)
        raise HttpError(405, "Method not allowed") if allowed else HttpError(404, "Not found")

    # --- responses ----------------------------------------------------------------------------------------------

    def _send(self, status, content, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def _send_json(self, status, payload):
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send_data(self, data):
        """HTTP 200 in WaveSpeed's envelope."""
        self._send_json(200, {"code": 200, "message": "success", "data": data})

    # --- WaveSpeed routes ---------------------------------------------------------------------------------------

    def route_submit(self, body, query):
        self.engine.count("submit_requests")
        webhook_url = query.get("webhook", [""])[0]
        try:
            params = validate_submission(parse_json(body), webhook_url)
            prediction = self.engine.submit(self.api_key, params, webhook_url, self.public_base)
        except InvalidRequest as exc:
            raise HttpError(400, str(exc)) from exc
        except LimitExceeded as exc:
            raise HttpError(429, str(exc)) from exc
        # Faults after the task exists (it runs and is charged): a gateway error, or an answer too late.
        if self.engine.inject("submit_error"):
            raise HttpError(self.engine.pick(POLL_ERROR_STATUSES), "simulated gateway error after the task was created")
        if self.engine.inject("submit_timeout"):
            self.engine.stopping.wait(self.engine.config.slow_seconds)
        if params["enable_sync_mode"]:
            self.engine.wait_until_finished(prediction)
        self._send_data(self.engine.view(prediction))

    def route_result(self, body, query, prediction_id):
        self.engine.record_poll(prediction_id)
        if self.engine.inject("poll_error"):
            raise HttpError(self.engine.pick(POLL_ERROR_STATUSES), "simulated upstream error")
        prediction = self.engine.get(prediction_id)
        if prediction is None:
            raise HttpError(404, "prediction not found")
        if self.engine.inject("malformed"):
            envelope = json.dumps({"code": 200, "message": "success", "data": self.engine.view(prediction)}).encode()
            self._send(200, envelope[: len(envelope) // 2], "application/json")
            return
        self._send_data(self.engine.view(prediction))

    def route_delete(self, body, query, prediction_id):
        if not self.engine.delete(prediction_id):
            raise HttpError(404, "prediction not found")
        self._send_data({"status": "deleted"})

    def route_delete_many(self, body, query):
        try:
            ids = validate_delete_request(parse_json(body))
        except InvalidRequest as exc:
            raise HttpError(400, str(exc)) from exc
        self._send_data({"deleted_count": sum(self.engine.delete(prediction_id) for prediction_id in ids)})

    def route_list_predictions(self, body, query):
        try:
            page, page_size, status = validate_listing(parse_json(body))
        except InvalidRequest as exc:
            raise HttpError(400, str(exc)) from exc
        self._send_data(self.engine.list_predictions(self.api_key, page, page_size, status))

    def route_upload(self, body, query):
        if self.engine.inject("upload_error"):
            raise HttpError(500, "simulated upload failure")
        filename, content, content_type = parse_multipart_file(self.headers.get("Content-Type", ""), body)
        if len(content) > MAX_UPLOAD_BYTES:
            raise HttpError(400, "the file is larger than 20 MB")
        self._send_data(self.engine.store_upload(filename, content, content_type, self.public_base))

    def route_balance(self, body, query):
        self._send_data({"balance": self.engine.config.balance})

    def route_webhook_secret(self, body, query):
        self._send_data({"secret": self.engine.config.webhook_secret})

    def route_price(self, body, query):
        """The shape the official CLI reads: price, and discounted_price when a discount applies."""
        model_id, num_images = self._price_request(body)
        config = self.engine.config
        price = round(config.price_per_image * num_images, 6)
        answer = {"model_id": model_id, "price": price}
        if config.discount > 0:
            answer["discounted_price"] = round(price * (1 - config.discount), 6)
        self._send_data(answer)

    def route_pricing(self, body, query):
        """The shape of WaveSpeed's pricing docs page: one unit_price (per image here)."""
        model_id, _ = self._price_request(body)
        self._send_data({"model_id": model_id, "unit_price": self.engine.config.price_per_image})

    def _price_request(self, body):
        try:
            return validate_price_request(parse_json(body))
        except InvalidRequest as exc:
            raise HttpError(400, str(exc)) from exc

    # --- CDN-like file routes (no auth, as WaveSpeed's output URLs) -----------------------------------------------

    def route_media(self, body, query, token, filename):
        found = self.engine.media(token, filename)
        if found is None:
            raise HttpError(404, "file not found")
        self._send(200, found[0], found[1])

    def route_output(self, body, query, prediction_id, index, extension):
        self.engine.count("downloads")
        if self.engine.inject("download_error"):
            raise HttpError(503, "simulated CDN failure")
        found = self.engine.output(prediction_id, int(index), extension)
        if found is None:
            raise HttpError(404, "output not found")
        self._send(200, found[0], found[1])

    # --- test-only control routes -----------------------------------------------------------------------------

    def route_sim_stats(self, body, query):
        self._send_json(200, self.engine.stats())

    def route_sim_config(self, body, query):
        if self.command == "POST":
            values = parse_json(body)
            if not isinstance(values, dict):
                raise HttpError(400, "the body must be a JSON object of settings")
            try:
                self.engine.config.update(values)
            except ValueError as exc:
                raise HttpError(400, str(exc)) from exc
        self._send_json(200, self.engine.config.as_dict())


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # benchmarks open many connections at once

    engine: SimulatorEngine  # set right after binding, once the port (and so the base URL) is known

    def __init__(self, address):
        super().__init__(address, SimulatorRequestHandler)


class RunningSimulator:
    """Handle on a simulator serving in a daemon thread."""

    def __init__(self, server, engine, thread):
        self._server = server
        self._engine = engine
        self._thread = thread
        self.base_url = engine.base_url

    @property
    def config(self) -> SimulatorConfig:
        """The live config: changed attributes apply to later requests."""
        return self._engine.config

    def stats(self):
        return self._engine.stats()

    def stop(self):
        """Stop serving, wake sleeping requests and pending webhook threads, free the port."""
        self._engine.stopping.set()
        self._engine.stop_rendering()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


def start_simulator(config=None, host="127.0.0.1", port=0):
    """Serve a simulator on host:port (0 picks a free port) from a daemon thread; returns a RunningSimulator."""
    config = config or SimulatorConfig()
    server = SimulatorHTTPServer((host, port))
    url_host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    engine = SimulatorEngine(config, f"http://{url_host}:{server.server_address[1]}")
    server.engine = engine
    # A short poll interval lets stop() return quickly: tests start and stop many simulators.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True, name="wavespeed-simulator")
    thread.start()
    return RunningSimulator(server, engine, thread)
