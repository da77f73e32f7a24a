"""Prometheus metrics, computed from the database when scraped.

Jobs are followed by whichever worker process holds the dispatcher lease, on any host, so
per-process counters would each see only a part. The database sees everything: every scrape
reads it (a few aggregate queries), and the numbers are right however many workers run.
"""

from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from variations import costs
from variations.models import IN_FLIGHT_STATUSES, Output, Status, Variation, WaveSpeedErrorCount

QUEUE_WAIT_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)  # seconds
INFERENCE_BUCKETS = (0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120)  # seconds


def histogram(name, documentation, jobs, buckets, as_value):
    """A histogram family from one aggregate query over `jobs` annotated with `value`.

    `buckets` are in seconds; `as_value(seconds)` turns one into the annotation's own unit.
    """
    counts = jobs.aggregate(
        total=Count("pk"),
        sum=Sum("value"),
        **{f"le_{i}": Count("pk", filter=Q(value__lte=as_value(bound))) for i, bound in enumerate(buckets)},
    )
    total = counts["sum"] or as_value(0)
    seconds = total.total_seconds() if isinstance(total, timedelta) else total / as_value(1)
    return HistogramMetricFamily(
        name,
        documentation,
        buckets=[(str(float(bound)), counts[f"le_{i}"]) for i, bound in enumerate(buckets)] + [("+Inf", counts["total"])],
        sum_value=seconds,
    )


class DatabaseCollector:
    """Reads every metric from the database at scrape time."""

    def collect(self):
        by_status = dict(Variation.objects.order_by().values_list("status").annotate(n=Count("pk")))
        jobs = GaugeMetricFamily("fluxsite_jobs", "Jobs by status (internal steps included).", labels=["status"])
        for status in Status:
            jobs.add_metric([status.value], by_status.get(status.value, 0))
        yield jobs

        yield GaugeMetricFamily(
            "fluxsite_predictions_in_flight",
            "Jobs holding one of WaveSpeed's concurrency slots (being submitted or running there).",
            value=sum(by_status.get(s.value, 0) for s in IN_FLIGHT_STATUSES),
        )

        waited = Variation.objects.filter(submitted_at__isnull=False).annotate(
            value=ExpressionWrapper(F("submitted_at") - F("created_at"), output_field=DurationField())
        )
        yield histogram(
            "fluxsite_queue_wait_seconds",
            "Time from a job's creation to its (last) submit to WaveSpeed.",
            waited,
            QUEUE_WAIT_BUCKETS,
            lambda seconds: timedelta(seconds=seconds),
        )

        inferred = Variation.objects.filter(inference_ms__isnull=False).annotate(value=F("inference_ms"))
        yield histogram(
            "fluxsite_inference_seconds",
            "WaveSpeed's own inference time of finished predictions.",
            inferred,
            INFERENCE_BUCKETS,
            lambda seconds: seconds * 1000,
        )

        errors = CounterMetricFamily(
            "fluxsite_wavespeed_errors", "Errors met calling WaveSpeed, retried ones included, by kind.", labels=["kind"]
        )
        for kind, count in WaveSpeedErrorCount.objects.values_list("kind", "count"):
            errors.add_metric([kind], count)
        yield errors

        stored = Output.objects.aggregate(n=Count("pk"), size=Sum("byte_size"))
        yield GaugeMetricFamily("fluxsite_outputs_stored", "Output images in the app's storage.", value=stored["n"])
        yield GaugeMetricFamily(
            "fluxsite_outputs_stored_bytes", "Bytes of output images in the app's storage.", value=stored["size"] or 0
        )

        yield GaugeMetricFamily(
            "fluxsite_estimated_cost_this_month_usd",
            "Estimated WaveSpeed spending this calendar month (UTC), from the quoted price of each job sent.",
            value=float(costs.spent_this_month()),
        )


def render():
    """The metrics in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
