"""Webhook signing and delivery exactly as WaveSpeed documents it (not Standard Webhooks: the key is not base64)."""

import hashlib
import hmac
import logging
import time

import requests

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT = (3, 10)
RETRIES = 3


def webhook_signature(secret, webhook_id, timestamp, raw_body):
    """The `webhook-signature` header: "v3," + hex HMAC-SHA256 of "{id}.{timestamp}.{body}".

    The key is the secret without its whsec_ prefix, used as UTF-8 text.
    """
    key = secret.removeprefix("whsec_").encode()
    message = f"{webhook_id}.{timestamp}.{raw_body.decode()}".encode()
    return "v3," + hmac.new(key, message, hashlib.sha256).hexdigest()


def deliver_webhook(url, webhook_id, raw_body, secret, backoff, stopping, on_attempt):
    """POST one event until a 2xx answers, retrying RETRIES times with doubling backoff. True when delivered.

    The id stays the same on every attempt (receivers de-duplicate on it); the timestamp and signature are fresh.
    `stopping` (a threading.Event) cuts the waits short when the simulator shuts down.
    """
    for attempt in range(RETRIES + 1):
        if attempt and stopping.wait(backoff * 2 ** (attempt - 1)):
            return False
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": webhook_signature(secret, webhook_id, timestamp, raw_body),
        }
        try:
            response = requests.post(
                url, data=raw_body, headers=headers, timeout=DELIVERY_TIMEOUT, allow_redirects=False
            )
            delivered = 200 <= response.status_code < 300
        except requests.RequestException as exc:
            log.info("webhook %s to %s failed: %s", webhook_id, url, type(exc).__name__)
            delivered = False
        on_attempt()
        if delivered:
            return True
    return False
