"""Running the app: health checks, Prometheus metrics, log formats and redaction, and the middleware that answers /healthz and /metrics."""
