"""Does this instance's WaveSpeed setup work? The checks behind `manage.py wavespeed_check` and the admin's
WaveSpeed page: the key and the balance, the price of a default job, the webhook secret and whether
WaveSpeed can reach the webhook URL, the configured limits beside WaveSpeed's tiers, and (`run`) one
small job end to end. Each step says what it found, how long it took, and, when it fails, what to do.
"""

import io
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from PIL import Image

import wavespeed_api as wavespeed

from .connection import wavespeed_client
from .dispatcher.submit import webhook_url
from .ledger import format_usd

OK, WARN, FAIL = "ok", "warning", "failed"
# WaveSpeed's account levels: (tier, images per minute, tasks at once).
TIERS = [("Bronze", 10, 3), ("Silver", 500, 100), ("Gold", 3000, 2000), ("Ultra", 5000, 5000)]
TEST_JOB = {
    "size": "256*256", "num_inference_steps": 1, "seed": 42, "guidance_scale": 3.5, "num_images": 1,
    "enable_safety_checker": True, "output_format": "jpeg",
}
DEFAULT_JOB = {**TEST_JOB, "size": "1024*1024", "num_inference_steps": 28}
RUN_TIMEOUT_SECONDS = 180  # the command's wait for the test job; the admin page waits less (a web request)

ADVICE = {
    "no_key": "Set WAVESPEED_API_KEY (from wavespeed.ai, Settings -> API keys) and restart.",
    "bad_key": (
        "WaveSpeed refused the key (401): check it was copied whole, was not deleted or regenerated, and that the "
        "account has been topped up once (keys only work after the first top-up)."
    ),
    "account": "WaveSpeed refused the account (403): it may be suspended or not allowed this model; ask WaveSpeed support.",
    "no_balance": "The WaveSpeed balance is empty: top up at wavespeed.ai before sending jobs.",
    "low_balance": "The WaveSpeed balance is low (below FLUXSITE_LOW_BALANCE_USD): top up soon, or submits will start failing.",
    "tier": (
        "WaveSpeed limits how many images may start per minute and run at once by account level. Keep "
        "WAVESPEED_MAX_PER_MINUTE and WAVESPEED_MAX_CONCURRENCY at or below your level's (Bronze: 10 and 3)."
    ),
    "price": (
        "WaveSpeed did not quote a price. Jobs fall back to the last price of the same parameters, then to "
        "FLUXSITE_PRICE_PER_IMAGE_USD: set it, or with a monthly budget set, jobs without a price wait."
    ),
    "webhook_private": (
        "FLUXSITE_PUBLIC_URL points at an address WaveSpeed cannot reach from the internet (a private or local one). "
        "Use the public https address of this site, or leave FLUXSITE_PUBLIC_URL empty to rely on polling."
    ),
    "webhook_secret": "WaveSpeed did not give the webhook secret: check the key; webhooks cannot be verified without it.",
    "webhook_mismatch": "WAVESPEED_WEBHOOK_SECRET differs from the secret WaveSpeed gives for this key: remove it or fix it.",
    "unreachable": "WaveSpeed did not answer: check this machine's internet access and WAVESPEED_BASE_URL.",
    "run": "The test job did not finish: see the step above; WaveSpeed's status page may tell more.",
}


@dataclass
class Step:
    name: str
    outcome: str  # OK, WARN or FAIL
    detail: str
    seconds: float = 0.0
    advice: str = ""
    cost: str = ""


def advice_for(error):
    """The plain advice for a WaveSpeed error met by any step."""
    if isinstance(error, wavespeed.Forbidden):
        return ADVICE["account"]
    if isinstance(error, wavespeed.Unauthorized):
        return ADVICE["bad_key"]
    if isinstance(error, wavespeed.InsufficientBalance):
        return ADVICE["no_balance"]
    if isinstance(error, wavespeed.RateLimited):
        return ADVICE["tier"]
    if isinstance(error, (wavespeed.ServerError, wavespeed.AmbiguousSubmit)):
        return ADVICE["unreachable"]
    return ""


class Check:
    """Runs the steps in order, each timed; `steps` is the report, `works` the verdict."""

    def __init__(self, client=None, on_step=None, run_timeout=RUN_TIMEOUT_SECONDS):
        self.client = client or wavespeed_client(retries=1)
        self.on_step = on_step or (lambda step: None)
        self.run_timeout = run_timeout
        self.steps = []

    @property
    def works(self):
        return bool(self.steps) and all(step.outcome != FAIL for step in self.steps)

    def add(self, step):
        self.steps.append(step)
        self.on_step(step)
        return step

    def timed(self, name, call):
        """(result, seconds, error): a WaveSpeed call that may fail; a failure is added as a FAIL step."""
        began = time.monotonic()
        try:
            return call(), time.monotonic() - began, None
        except wavespeed.WaveSpeedError as exc:
            seconds = time.monotonic() - began
            self.add(Step(name, FAIL, exc.message, seconds, advice_for(exc) or ADVICE["unreachable"]))
            return None, seconds, exc

    def run(self, end_to_end=False):
        if not settings.WAVESPEED_API_KEY:
            self.add(Step("API key", FAIL, "no WAVESPEED_API_KEY is set", advice=ADVICE["no_key"]))
            return self
        where = "the WaveSpeed simulator (a test double)" if settings.WAVESPEED_SIMULATED else settings.WAVESPEED_BASE_URL
        self.add(Step("API key", OK, f"set; talking to {where}"))
        if self.check_balance() and self.check_price():
            self.check_webhooks()
            self.check_limits()
            if end_to_end:
                self.run_test_job()
        return self

    def check_balance(self):
        balance, seconds, error = self.timed("balance", self.client.balance)
        if error:
            return False
        low = settings.FLUXSITE_LOW_BALANCE_USD
        if balance <= 0:
            self.add(Step("balance", FAIL, format_usd(balance), seconds, ADVICE["no_balance"]))
            return False
        if balance < low:
            self.add(Step("balance", WARN, f"{format_usd(balance)} (below {format_usd(low)})", seconds, ADVICE["low_balance"]))
        else:
            self.add(Step("balance", OK, format_usd(balance), seconds))
        return True

    def check_price(self):
        """The quote for a default job (1024*1024, 28 steps, one image). False when the key failed: nothing
        further can work; an unknown price is only a warning (the app falls back to estimates)."""
        began = time.monotonic()
        try:
            quote = self.client.price(DEFAULT_JOB)
        except wavespeed.Unauthorized as exc:
            self.add(Step("price of a default job", FAIL, exc.message, time.monotonic() - began, advice_for(exc)))
            return False
        except wavespeed.WaveSpeedError as exc:
            self.add(Step("price of a default job", WARN, exc.message, time.monotonic() - began, ADVICE["price"]))
            return True
        shown = format_usd(quote.charged)
        if quote.charged != quote.price:
            shown += f" (discounted from {format_usd(quote.price)})"
        self.add(Step("price of a default job", OK, f"{shown}, from /api/v3/model/{quote.endpoint}", time.monotonic() - began))
        return True

    def check_webhooks(self):
        url = webhook_url()
        if not url:
            self.add(Step("webhooks", OK, "off (FLUXSITE_PUBLIC_URL is not a public https URL): results are polled"))
            return
        private = private_host(urlsplit(url).hostname or "")
        if private:
            self.add(Step("webhook URL", FAIL, f"{url} resolves to {private}", advice=ADVICE["webhook_private"]))
        else:
            self.add(Step("webhook URL", OK, url))
        secret, seconds, error = self.timed("webhook secret", self.client.webhook_secret)
        if error:
            return
        configured = settings.WAVESPEED_WEBHOOK_SECRET
        if configured and configured != secret:
            self.add(Step("webhook secret", FAIL, "differs from WAVESPEED_WEBHOOK_SECRET", seconds, ADVICE["webhook_mismatch"]))
        else:
            self.add(Step("webhook secret", OK, f"received ({secret[:6]}…)", seconds))

    def check_limits(self):
        per_minute, concurrency = settings.WAVESPEED_MAX_PER_MINUTE, settings.WAVESPEED_MAX_CONCURRENCY
        tiers = "; ".join(f"{name} {minute}/min, {running} at once" for name, minute, running in TIERS)
        detail = f"configured {per_minute or 'no limit'}/min, {concurrency} at once; WaveSpeed's levels: {tiers}"
        bronze = TIERS[0]
        above = (not per_minute or per_minute > bronze[1]) or concurrency > bronze[2]
        if above and not settings.WAVESPEED_SIMULATED:
            self.add(Step("limits", WARN, detail + " (above Bronze: right only for a higher level)", advice=ADVICE["tier"]))
        else:
            self.add(Step("limits", OK, detail))

    def run_test_job(self):
        """Upload a small generated image, run one 256*256 1-step job, download its output."""
        buffer = io.BytesIO()
        Image.linear_gradient("L").convert("RGB").resize((256, 256)).save(buffer, "JPEG")
        url, seconds, error = self.timed(
            "upload", lambda: self.client.upload_media("wavespeed-check.jpg", buffer.getvalue(), "image/jpeg")
        )
        if error:
            return
        self.add(Step("upload", OK, "a 256x256 test image", seconds))
        quote = self.check_test_price()
        prediction, seconds, error = self.timed("submit", lambda: self.client.submit(url, TEST_JOB))
        if error:
            return
        self.add(Step("submit", OK, f"task {prediction.id}", seconds, cost=quote))
        began = time.monotonic()
        try:
            while not prediction.finished and time.monotonic() - began < self.run_timeout:
                time.sleep(0.5)
                prediction = self.client.get_result(prediction.id)
        except wavespeed.WaveSpeedError as exc:
            self.add(Step("result", FAIL, exc.message, time.monotonic() - began, advice_for(exc) or ADVICE["run"]))
            return
        if prediction.status != "completed" or not prediction.outputs:
            reason = prediction.error or f"status {prediction.status}"
            self.add(Step("result", FAIL, reason, time.monotonic() - began, ADVICE["run"]))
            return
        self.add(Step("result", OK, f"completed in {prediction.inference_ms or 0} ms of inference", time.monotonic() - began))
        self.download(prediction.outputs[0])

    def check_test_price(self):
        try:
            return format_usd(self.client.price(TEST_JOB).charged)
        except wavespeed.WaveSpeedError:
            return format_usd(None)

    def download(self, url):
        data, seconds, error = self.timed("download", lambda: self.client.download(url))
        if error:
            return
        try:
            with Image.open(io.BytesIO(data)) as image:
                size = f"{image.width}x{image.height} {image.format}"
        except OSError:
            self.add(Step("download", FAIL, "the output is not an image", seconds, ADVICE["run"]))
            return
        self.add(Step("download", OK, size, seconds))


def private_host(host):
    """The private, loopback or link-local address `host` resolves to ("" when public or unresolvable)."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        return ""
    for address in sorted(addresses):
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved:
            return address
    return ""
