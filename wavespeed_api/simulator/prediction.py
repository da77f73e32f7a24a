"""One simulated prediction: its timed lifecycle, its rendered outputs and its shape on the wire."""

import base64
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import images

MODEL_ID = "wavespeed-ai/flux-redux-dev"
CREATED_FRACTION = 0.1  # a prediction reads `created` for the first 10% of its run, then `processing`
FINAL_STATUSES = ("completed", "failed", "cancelled", "timeout")
SOURCE_UNAVAILABLE_CODE = 1402
FAILURE_TEXTS = {
    1200: "content moderation flagged the input",
    1400: "missing parameter",
    1401: "invalid parameter",
    1402: "media URL not accessible",
    1403: "task execution failed",
    1405: "task execution failed",
    5000: "internal server error",
    5003: "service unavailable",
    5004: "task timed out",
}


END_TEXTS = {"cancelled": "Task cancelled by server", "timeout": "Task timed out"}


def _iso(timestamp):
    """Nanoseconds, as WaveSpeed writes them (e.g. 2025-05-20T12:34:56.123456789Z)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    nanos = round(timestamp * 1_000_000_000) % 1_000_000_000
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


@dataclass(eq=False)
class Prediction:
    """Status is derived from the clock on every read, so no thread has to move a prediction along."""

    id: str
    api_key: str
    params: dict  # validated submit parameters, size as (width, height)
    seed: int  # the seed actually used (-1 replaced by a drawn one)
    public_base: str  # scheme://host the client used, so every URL handed out points back the same way
    webhook_url: str
    submitted_at: float
    finishes_at: float
    failure_code: int | None
    error: str
    nsfw_flags: list
    source: object  # the decoded PIL image until the outputs are rendered
    outputs: list | None = None  # rendered bytes, one per image
    deleted: bool = False
    starts_at: float | None = None  # when it got a slot (later than submitted_at if it waited); None = at once
    end_status: str = ""  # "cancelled" or "timeout" for a task WaveSpeed ends so; "" = completed or failed
    foreign: bool = False  # started by "another client" of the account: it only shows in the history
    render_lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self, now):
        if self.deleted:
            return "deleted"  # only ever shown in the simulator's stats; the API answers 404
        if now >= self.finishes_at:
            return self.end_status or ("failed" if self.failure_code else "completed")
        started = self.starts_at or self.submitted_at
        if now < started + CREATED_FRACTION * (self.finishes_at - started):
            return "created"  # waiting for a slot, or just starting
        return "processing"

    @property
    def extension(self):
        return self.params["output_format"]

    def output_url(self, index):
        return f"{self.public_base}/outputs/{self.id}/{index}.{self.extension}"

    def forget_images(self):
        """Drop source and outputs (on delete); a render under way then keeps its result to itself."""
        self.outputs = self.source = None

    def rendered_outputs(self):
        """The output images' bytes, rendered once on first need and kept in memory (the source is then dropped)."""
        with self.render_lock:
            source, params = self.source, self.params
            if self.outputs is not None or source is None:  # rendered already, or failed, or deleted
                return self.outputs or []
            outputs = [
                images.render_variation(source, params["size"], params["output_format"], self.seed, index)
                for index in range(params["num_images"])
            ]
            if not self.deleted:
                self.outputs, self.source = outputs, None
            return outputs

    def to_api(self, now):
        """The prediction object exactly as WaveSpeed shapes it (rendering the outputs once it is completed)."""
        status = self.status(now)
        if status == "completed":
            rendered = self.rendered_outputs()
            if self.params["enable_base64_output"]:
                outputs = [base64.b64encode(content).decode() for content in rendered]
            else:
                outputs = [self.output_url(index) for index in range(len(rendered))]
        else:
            outputs = []
        data = {
            "id": self.id,
            "model": MODEL_ID,
            "outputs": outputs,
            "urls": {"get": f"{self.public_base}/api/v3/predictions/{self.id}/result"},
            "has_nsfw_contents": self.nsfw_flags if status == "completed" else [],
            "status": status,
            "created_at": _iso(self.submitted_at),
            "error": (END_TEXTS.get(status) or self.error) if status in FINAL_STATUSES[1:] else "",
            "timings": {"inference": round((self.finishes_at - (self.starts_at or self.submitted_at)) * 1000)}
            if status in FINAL_STATUSES
            else {},
        }
        if status == "failed":
            data["code"] = self.failure_code  # where WaveSpeed's error-codes page and Go SDK read it
        return data
