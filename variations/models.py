"""State of sources, Variation jobs and their outputs, and the rules for moving a job between states."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.utils import timezone
from django.utils.text import slugify

from team.models import allows, may_delete_work_of

from .account import ApiKeyRefusal, LedgerEntry, WaveSpeedErrorCount, key_fingerprint  # noqa: F401 (registered here)

from .params import DEFAULTS, TITLE_MAX


CONTENT_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


def source_path(source, filename):
    return f"sources/{source.sha256[:2]}/{source.sha256}.{source.extension}"


def source_thumbnail_path(source, filename):
    return f"thumbnails/sources/{source.sha256[:2]}/{source.sha256}.webp"


def output_path(output, filename):
    return f"outputs/{output.variation_id.hex[:2]}/{output.variation_id.hex}-{output.index}.{output.extension}"


def output_thumbnail_path(output, filename):
    return f"thumbnails/outputs/{output.variation_id.hex[:2]}/{output.variation_id.hex}-{output.index}.webp"


class Source(models.Model):
    """An uploaded image; identical bytes are one source (sha256 is unique)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sha256 = models.CharField(max_length=64, unique=True)
    # The uploaded file's name without its extension, or what a derived source came from; editable.
    title = models.CharField(max_length=TITLE_MAX)
    image = models.FileField(upload_to=source_path, max_length=255)
    thumbnail = models.FileField(upload_to=source_thumbnail_path, max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=10)  # Pillow's name: JPEG, PNG, WEBP, GIF ...
    byte_size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # "Vary this": the output this source was made from, so lineage shows both ways.
    derived_from = models.ForeignKey(
        "Output", null=True, blank=True, on_delete=models.SET_NULL, related_name="derived_sources"
    )
    # Cache of the WaveSpeed media upload, reused by re-runs while WaveSpeed still keeps the file.
    wavespeed_url = models.URLField(max_length=1000, blank=True)
    wavespeed_uploaded_at = models.DateTimeField(null=True, blank=True)
    wavespeed_upload_for = models.CharField(max_length=16, blank=True)  # upload_fingerprint() when it was made

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.title

    @property
    def extension(self):
        return {"JPEG": "jpg", "MPO": "jpg"}.get(self.format, self.format.lower())

    @property
    def content_type(self):
        return CONTENT_TYPES.get(self.format, "application/octet-stream")

    @property
    def slug(self):
        """The title as a safe file name part: ASCII letters, digits and dashes (accents dropped), never empty."""
        return slugify(self.title)[:80].strip("-") or f"source-{self.sha256[:12]}"

    @property
    def download_name(self):
        return f"{self.slug}.{self.extension}"

    @property
    def archive_name(self):
        return f"{self.slug}-variations.zip"

    def deletable_by(self, user):
        """Only when every job on it is theirs too, so deleting it never takes away a colleague's results."""
        if not may_delete_work_of(user, self.uploaded_by_id):
            return False
        return allows(user, "manage") or not self.variations.exclude(owner_id=user.pk).exists()

    def valid_wavespeed_url(self):
        """The uploaded copy's URL while WaveSpeed keeps it (7 days; one day's margin), and only for the base
        URL and key it was uploaded with (another account or service never had it); else ''."""
        if self.wavespeed_url and self.wavespeed_uploaded_at and self.wavespeed_upload_for == upload_fingerprint():
            if timezone.now() - self.wavespeed_uploaded_at < UPLOAD_TRUSTED_FOR:
                return self.wavespeed_url
        return ""

    def remember_upload(self, url, at=None):
        """WaveSpeed keeps the source at `url` since `at` (now): re-runs use it while it is valid."""
        fields = {"wavespeed_url": url, "wavespeed_uploaded_at": at or timezone.now(), "wavespeed_upload_for": upload_fingerprint()}
        Source.objects.filter(pk=self.pk).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)

    def forget_upload(self, sent_at):
        """WaveSpeed could not fetch the link a job sent at `sent_at` used (task code 1402): it is never used
        again. A link uploaded after that job went out is another one, and kept."""
        forgotten = Source.objects.filter(pk=self.pk, wavespeed_uploaded_at__lte=sent_at).update(
            wavespeed_url="", wavespeed_uploaded_at=None, wavespeed_upload_for=""
        )
        if forgotten:
            self.wavespeed_url, self.wavespeed_uploaded_at, self.wavespeed_upload_for = "", None, ""


class Status(models.TextChoices):
    QUEUED = "queued"
    SUBMITTING = "submitting"  # claimed by the dispatcher, submit POST under way
    PROCESSING = "processing"  # WaveSpeed holds the prediction
    STORING = "storing"  # WaveSpeed finished; outputs being copied into our storage
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# What may follow what. Every change of a job's status goes through Variation.move_to,
# which checks this table and makes the change with a conditional update.
TRANSITIONS = {
    Status.QUEUED: {Status.SUBMITTING, Status.CANCELLED},
    # Back to QUEUED only when WaveSpeed certainly did not take the task (429, 5xx answered).
    Status.SUBMITTING: {Status.PROCESSING, Status.QUEUED, Status.FAILED, Status.CANCELLED},
    # Back to QUEUED when WaveSpeed failed the task with a retryable code (refunded, safe to resend).
    Status.PROCESSING: {Status.STORING, Status.FAILED, Status.CANCELLED, Status.QUEUED},
    Status.STORING: {Status.COMPLETED, Status.FAILED},
    Status.COMPLETED: set(),
    Status.FAILED: set(),
    Status.CANCELLED: set(),
}
ACTIVE_STATUSES = [Status.QUEUED, Status.SUBMITTING, Status.PROCESSING, Status.STORING]
IN_FLIGHT_STATUSES = [Status.SUBMITTING, Status.PROCESSING]  # hold one of WaveSpeed's concurrency slots
TERMINAL_STATUSES = [Status.COMPLETED, Status.FAILED, Status.CANCELLED]
# The five statuses the API and pages show: the internal steps fold into their neighbours.
PUBLIC_STATUS = {
    Status.QUEUED: "queued",
    Status.SUBMITTING: "queued",
    Status.PROCESSING: "processing",
    Status.STORING: "processing",
    Status.COMPLETED: "completed",
    Status.FAILED: "failed",
    Status.CANCELLED: "cancelled",
}
PUBLIC_TO_INTERNAL = {
    public: [s for s, p in PUBLIC_STATUS.items() if p == public] for public in set(PUBLIC_STATUS.values())
}


# WaveSpeed's task codes for internal/unavailable/timeout failures: the task is refunded and has
# certainly ended, so the job may be sent again, up to MAX_SUBMIT_ATTEMPTS in all.
RETRYABLE_TASK_CODES = {"5000", "5003", "5004"}
MAX_SUBMIT_ATTEMPTS = 3


class ErrorCode(models.TextChoices):
    """Why a job failed, beyond WaveSpeed's own numeric task codes (kept as text in error_code)."""

    SUBMIT_AMBIGUOUS = "submit_ambiguous", "Submit timed out: the prediction may exist and be charged"
    BAD_REQUEST = "bad_request", "WaveSpeed refused the parameters"
    UNAUTHORIZED = "unauthorized", "WaveSpeed refused the API key"
    TIMEOUT = "timeout", "The prediction did not finish in time"
    NOT_FOUND = "not_found", "WaveSpeed no longer has the prediction"
    DOWNLOAD = "download_failed", "The outputs could not be downloaded"
    UPLOAD = "upload_failed", "The source could not be uploaded to WaveSpeed"
    TASK_FAILED = "task_failed", "WaveSpeed failed the prediction"
    BUDGET_REACHED = "budget_reached", "Not sent: the monthly WaveSpeed budget is reached"


class VariationQuerySet(models.QuerySet):
    def with_outputs(self):
        """Jobs with their people and outputs (how often each output was varied, and picked by visitors of
        share links: `picks` is sharing's relation, named so this app need not import it): a fixed number of queries."""
        # Explicit order: Meta.ordering does not apply to a query with an aggregate (GROUP BY).
        outputs = Output.objects.annotate(
            derived_count=Count("derived_sources", distinct=True),
            pick_count=Count("picks", filter=Q(picks__picked=True), distinct=True),
        ).order_by("index")
        return self.with_retries().select_related("owner", "source").prefetch_related(Prefetch("outputs", queryset=outputs))

    def with_retries(self):
        """Jobs with `retried_as_id`, the first later run of exactly their parameters (for a failed or cancelled
        job, its retry, which the pages link to instead of offering Retry again); a column, not a query more."""
        same_parameters = {name: OuterRef(name) for name in DEFAULTS}
        retries = Variation.objects.filter(rerun_of=OuterRef("pk"), **same_parameters).order_by("created_at")
        return self.annotate(retried_as_id=Subquery(retries.values("pk")[:1]))


class Variation(models.Model):
    """One FLUX.1 Redux [dev] job: the request parameters, where it stands, and what it produced."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="variations")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="variations")
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns")

    # Request parameters, exactly as sent to WaveSpeed. The seed is always concrete.
    size = models.CharField(max_length=11, default="1024*1024")
    num_inference_steps = models.PositiveSmallIntegerField(default=28)
    seed = models.BigIntegerField()
    guidance_scale = models.FloatField(default=3.5)
    num_images = models.PositiveSmallIntegerField(default=1)
    enable_safety_checker = models.BooleanField(default=True)
    output_format = models.CharField(max_length=4, default="jpeg")

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    prediction_id = models.CharField(max_length=100, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)  # WaveSpeed reported completed/failed
    completed_at = models.DateTimeField(null=True, blank=True)  # terminal in this app
    inference_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=40, blank=True)

    submit_attempts = models.PositiveSmallIntegerField(default=0)
    poll_count = models.PositiveIntegerField(default=0)
    download_attempts = models.PositiveSmallIntegerField(default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    via_webhook = models.BooleanField(default=False)  # submitted with ?webhook=
    remote_output_urls = models.JSONField(default=list, blank=True)
    remote_nsfw = models.JSONField(default=list, blank=True)
    # A cancelled prediction still at WaveSpeed: the dispatcher sends DELETE and clears this.
    delete_pending = models.BooleanField(default=False)
    # WaveSpeed's quoted price for one run of these parameters, recorded when the job is sent (variations.costs).
    cost_usd = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)

    objects = VariationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["source", "created_at"]),  # a source's latest job: library filters and sorts
            models.Index(fields=["seed"]),  # search by seed
            models.Index(fields=["owner", "created_at"]),  # a person's latest job: the form starts from their choices
        ]

    def __str__(self):
        return f"{self.id} {self.status}"

    def deletable_by(self, user):
        return may_delete_work_of(user, self.owner_id)

    @property
    def public_status(self):
        return PUBLIC_STATUS[self.status]

    @property
    def width(self):
        return int(self.size.split("*")[0])

    @property
    def height(self):
        return int(self.size.split("*")[1])

    def params(self):
        """The parameters as WaveSpeed takes them (without the image URL)."""
        return {name: getattr(self, name) for name in DEFAULTS}

    def move_to(self, status, **fields):
        """Change status if the job is still where this instance last saw it.

        A conditional UPDATE (atomic on SQLite and PostgreSQL alike) so that several processes can
        race on a job and exactly one wins. Returns False, changing nothing, when another got there first.
        """
        if status not in TRANSITIONS[self.status]:
            raise ValueError(f"a job may not go from {self.status} to {status}")
        if status in TERMINAL_STATUSES:
            fields.setdefault("completed_at", timezone.now())
        changed = Variation.objects.filter(pk=self.pk, status=self.status).update(status=status, **fields)
        if changed:
            self.status = status
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(changed)

    def cancel(self):
        """Cancel a job that has not finished; a prediction already at WaveSpeed is deleted there too."""
        while self.status in (Status.QUEUED, Status.SUBMITTING, Status.PROCESSING):
            if self.move_to(Status.CANCELLED, delete_pending=bool(self.prediction_id) or self.status == Status.SUBMITTING):
                return True
            self.refresh_from_db()
        return False


class Output(models.Model):
    """One output image, copied into the app's own storage (WaveSpeed deletes its copy after 7 days)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    variation = models.ForeignKey(Variation, on_delete=models.CASCADE, related_name="outputs")
    index = models.PositiveSmallIntegerField()
    image = models.FileField(upload_to=output_path, max_length=255)
    thumbnail = models.FileField(upload_to=output_thumbnail_path, max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=10)
    byte_size = models.PositiveIntegerField()
    nsfw = models.BooleanField(default=False)
    starred = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["variation", "index"], name="one_output_per_index")]

    def __str__(self):
        return f"{self.variation_id} #{self.index}"

    @property
    def extension(self):
        return "jpg" if self.format == "JPEG" else self.format.lower()

    @property
    def content_type(self):
        return CONTENT_TYPES.get(self.format, "application/octet-stream")

    @property
    def download_name(self):
        return f"variation-{self.variation_id.hex[:8]}-{self.index}.{self.extension}"


class DispatcherLease(models.Model):
    """Who runs the dispatcher now. Taken and renewed with conditional updates; expires if its holder dies."""

    name = models.CharField(max_length=20, primary_key=True, default="dispatcher")
    holder = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(default=timezone.now)

    @classmethod
    def acquire(cls, holder, seconds):
        now = timezone.now()
        cls.objects.get_or_create(name="dispatcher")
        taken = cls.objects.filter(name="dispatcher").filter(
            models.Q(expires_at__lt=now) | models.Q(holder=holder) | models.Q(holder="")
        ).update(holder=holder, expires_at=now + timedelta(seconds=seconds))
        return bool(taken)

    @classmethod
    def renew(cls, holder, seconds):
        return bool(
            cls.objects.filter(name="dispatcher", holder=holder).update(
                expires_at=timezone.now() + timedelta(seconds=seconds)
            )
        )

    @classmethod
    def release(cls, holder):
        cls.objects.filter(name="dispatcher", holder=holder).update(holder="", expires_at=timezone.now())

    @classmethod
    def is_live(cls):
        """Does a dispatcher hold the lease and keep renewing it?"""
        return cls.objects.filter(name="dispatcher", expires_at__gt=timezone.now()).exclude(holder="").exists()


UPLOAD_TRUSTED_FOR = timedelta(days=6)  # WaveSpeed keeps uploads 7 days; a day's margin


def upload_fingerprint():
    """Which WaveSpeed (base URL) and account (key) an upload was made with."""
    return key_fingerprint(f"{settings.WAVESPEED_BASE_URL} {settings.WAVESPEED_API_KEY}")
