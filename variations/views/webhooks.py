"""WaveSpeed's webhook: a signed POST of the bare prediction object when a task completes or fails."""

import hashlib
import hmac
import json
import logging
import re
import time

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

import wavespeed_api as wavespeed

from ..connection import wavespeed_client
from ..dispatcher import wake_dispatcher
from ..dispatcher.follow import record_result
from ..dispatcher.reconcile import settle_tagged
from ..models import Status, Variation

log = logging.getLogger(__name__)
MAX_AGE_SECONDS = 300
MAX_BODY_BYTES = 64 * 1024  # a prediction with four output URLs is about 1 KB
SECRET_SECONDS = 3600  # how long a secret fetched from WaveSpeed is kept
SECRET_FETCH_INTERVAL = 60  # at most one fetch a minute per key, answered or not
WEBHOOK_ID = re.compile(r"[\x21-\x7e]{1,200}")  # printable ASCII
TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE = re.compile(r"(?:^|\s)v3,[0-9a-f]{64}(?:\s|$)")
UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


class SecretUnavailable(Exception):
    """WaveSpeed did not give the webhook secret, or was asked less than a minute ago."""


def webhook_secret():
    """WAVESPEED_WEBHOOK_SECRET, or the key's secret from WaveSpeed, cached per key.

    Fetched at most once a minute per key, with short timeouts and no retries: an unreachable
    WaveSpeed costs one request a minute a few seconds, never every request.
    """
    if settings.WAVESPEED_WEBHOOK_SECRET:
        return settings.WAVESPEED_WEBHOOK_SECRET
    key = "wavespeed-webhook-secret:" + hashlib.sha256(settings.WAVESPEED_API_KEY.encode()).hexdigest()[:16]
    secret = cache.get(key)
    if secret:
        return secret
    if not cache.add(f"{key}:asked", True, SECRET_FETCH_INTERVAL):
        raise SecretUnavailable
    try:
        secret = wavespeed_client(retries=0, timeout=(3, 5)).webhook_secret()
    except wavespeed.WaveSpeedError as exc:
        log.warning("webhook secret unavailable: %s", exc.message)
        raise SecretUnavailable from exc
    cache.set(key, secret, SECRET_SECONDS)
    return secret


def signature_valid(secret, webhook_id, timestamp, body, signature_header):
    """v3 signatures: hex HMAC-SHA256 of "id.timestamp.body", keyed with the secret as UTF-8 text."""
    key = secret.removeprefix("whsec_").encode()
    expected = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    for candidate in signature_header.split():
        version, _, value = candidate.partition(",")
        # As bytes: compare_digest refuses str with non-ASCII characters, which a forged header may carry.
        if version == "v3" and hmac.compare_digest(value.encode(), expected.encode()):
            return True
    return False


def declared_length(request):
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return MAX_BODY_BYTES + 1


def named_prediction(body):
    """The prediction id a JSON body names, or None when it names none (unreadable bodies included)."""
    try:
        prediction_id = json.loads(body).get("id")
    except (ValueError, AttributeError, RecursionError):
        return None
    return prediction_id if isinstance(prediction_id, str) and prediction_id else None


def tagged_submit(request, prediction_id):
    """The SUBMITTING job a delivery's URL names (?job=&attempt=, submit.webhook_url), when no job knows the
    prediction yet: its submit got no answer, and this task may be its. None otherwise."""
    job_id, attempt = request.GET.get("job", ""), request.GET.get("attempt", "")
    if not (UUID.fullmatch(job_id) and attempt.isdigit()):
        return None
    if Variation.objects.filter(prediction_id=prediction_id).exists():
        return None
    return Variation.objects.filter(pk=job_id, submit_attempts=int(attempt), status=Status.SUBMITTING).first()


def refuse(reason, status=400):
    log.warning("webhook refused: %s", reason)
    return JsonResponse({"error": reason}, status=status)


@csrf_exempt
@require_POST
def wavespeed_webhook(request):
    """The cheap checks first, so forged requests cost no call to WaveSpeed: headers present and well
    formed, a fresh timestamp, a small body naming a prediction of ours still open (or, for a submit that got
    no answer, tagged with its job); only then the secret (cached) and the signature. The signature covers
    the body, not the URL's tag: the tag only says which unanswered submit to try (reconcile.settle_tagged
    checks the task's model and time against it). The answers never quote WaveSpeed."""
    webhook_id = request.headers.get("webhook-id", "")
    timestamp = request.headers.get("webhook-timestamp", "")
    signature = request.headers.get("webhook-signature", "")
    if not (WEBHOOK_ID.fullmatch(webhook_id) and TIMESTAMP.fullmatch(timestamp) and SIGNATURE.search(signature)):
        return refuse("missing or malformed webhook headers")
    if abs(time.time() - int(timestamp)) > MAX_AGE_SECONDS:
        return refuse("stale timestamp")
    if declared_length(request) > MAX_BODY_BYTES or len(request.body) > MAX_BODY_BYTES:
        return refuse("body too large", status=413)
    prediction_id = named_prediction(request.body)
    if prediction_id is None:
        return refuse("unreadable prediction")
    job = Variation.objects.filter(prediction_id=prediction_id, status=Status.PROCESSING).first()
    tagged = tagged_submit(request, prediction_id) if job is None else None
    if job is None and tagged is None:
        # Unknown, or settled already (WaveSpeed repeats deliveries): acknowledged, so it stops sending.
        return JsonResponse({"status": "ignored", "reason": "no open prediction with this id"})
    try:
        secret = webhook_secret()
    except SecretUnavailable:
        return refuse("webhook secret unavailable", status=503)
    if not signature_valid(secret, webhook_id, timestamp, request.body, signature):
        return refuse("bad signature", status=401)
    try:
        prediction = wavespeed.Prediction.from_data(json.loads(request.body))
    except (ValueError, wavespeed.MalformedResponse, AttributeError):
        return refuse("unreadable prediction")
    if tagged is not None:
        settle_tagged(tagged, json.loads(request.body))
        job = Variation.objects.filter(prediction_id=prediction_id, status=Status.PROCESSING).first()
    # Deliveries repeat (WaveSpeed retries): only the first one finds the job still processing.
    if job is not None and prediction.finished:
        record_result(job, prediction)
        wake_dispatcher()
    return JsonResponse({"status": "ok"})
