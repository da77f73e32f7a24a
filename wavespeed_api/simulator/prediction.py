"""One simulated prediction: its timed lifecycle, its rendered outputs and its shape on the wire."""

import base64
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import images

MODEL_ID = "wavespeed-ai/flux-redux-dev"
CREATED_FRACTION = 0.1  # a prediction reads `created` for the first 10% of its run, then `processing`
FINAL_STATUSES = ("completed", "failed")
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


def _iso(timestamp):
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    render_lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self, now):
        if self.deleted:
            return "deleted"  # only ever shown in the simulator's stats; the API answers 404
        if now >= self.finishes_at:
            return "failed" if self.failure_code else "completed"
        if now < self.submitted_at + CREATED_FRACTION * (self.finishes_at - self.submitted_at):
            return "created"
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
            "error": self.error if status == "failed" else "",
            "timings": {"inference": round((self.finishes_at - self.submitted_at) * 1000)}
            if status in FINAL_STATUSES
            else {},
        }
        if status == "failed":
            # Inferred field name: WaveSpeed documents the task-level codes but not where a failed prediction
            # carries them; the project's client reads `error_code` (falling back to `code`).
            data["error_code"] = self.failure_code
        return data
