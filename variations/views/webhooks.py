"""WaveSpeed's webhook: a signed POST of the bare prediction object when a task completes or fails."""

import hashlib
import hmac
import json
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

import wavespeed_api as wavespeed

from ..connection import wavespeed_client
from ..dispatcher import wake_dispatcher
from ..models import Status, Variation

log = logging.getLogger(__name__)
MAX_AGE_SECONDS = 300
SECRET_CACHE_KEY = "wavespeed-webhook-secret"


def webhook_secret():
    """WAVESPEED_WEBHOOK_SECRET, or the key's secret from WaveSpeed (fetched once an hour at most)."""
    if settings.WAVESPEED_WEBHOOK_SECRET:
        return settings.WAVESPEED_WEBHOOK_SECRET
    secret = cache.get(SECRET_CACHE_KEY)
    if secret is None:
        secret = wavespeed_client().webhook_secret()
        cache.set(SECRET_CACHE_KEY, secret, 3600)
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


def refuse(reason, status=400):
    log.warning("webhook refused: %s", reason)
    return JsonResponse({"error": reason}, status=status)


@csrf_exempt
@require_POST
def wavespeed_webhook(request):
    webhook_id = request.headers.get("webhook-id", "")
    timestamp = request.headers.get("webhook-timestamp", "")
    signature = request.headers.get("webhook-signature", "")
    if not (webhook_id and timestamp and signature):
        return refuse("missing webhook headers")
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        return refuse("bad timestamp")
    if age > MAX_AGE_SECONDS:
        return refuse("stale timestamp")
    try:
        secret = webhook_secret()
    except wavespeed.WaveSpeedError as exc:
        return refuse(f"webhook secret unavailable: {exc.message}", status=503)
    if not signature_valid(secret, webhook_id, timestamp, request.body, signature):
        return refuse("bad signature", status=401)
    try:
        prediction = wavespeed.Prediction.from_data(json.loads(request.body))
    except (ValueError, wavespeed.MalformedResponse, AttributeError) as exc:
        return refuse(f"unreadable prediction: {exc}")
    job = Variation.objects.filter(prediction_id=prediction.id).first()
    if job is None:
        return JsonResponse({"status": "ignored", "reason": "unknown prediction"})
    # Deliveries repeat (WaveSpeed retries): only the first one finds the job still processing.
    if job.status == Status.PROCESSING and prediction.finished:
        job.record_result(prediction)
        wake_dispatcher()
    return JsonResponse({"status": "ok"})
