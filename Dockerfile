# fluxsite: one image for the web server (gunicorn, the default command) and the worker (qcluster).
# Slim, runs as an unprivileged user, and holds the app's own dependencies only (no test tools).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Dependencies first, read from pyproject.toml, so code changes do not reinstall them.
WORKDIR /app
COPY pyproject.toml ./
RUN python -m venv /opt/venv \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY manage.py ./
COPY fluxsite ./fluxsite
COPY team ./team
COPY variations ./variations
COPY sharing ./sharing
COPY wavespeed_api ./wavespeed_api
COPY templates ./templates
COPY static ./static
COPY deploy/docker-entrypoint /usr/local/bin/fluxsite-entrypoint

# Static files are collected into the image (whitenoise serves them); data lives in the /data volume.
ENV FLUXSITE_DATA_DIR=/data \
    FLUXSITE_STATIC_ROOT=/app/staticfiles \
    FLUXSITE_LOG_FORMAT=json
RUN DJANGO_SECRET_KEY=collectstatic-only FLUXSITE_DATA_DIR=/tmp/build-data python manage.py collectstatic --noinput -v0 \
 && rm -rf /tmp/build-data \
 && useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin fluxsite \
 && mkdir -p /data \
 && chown fluxsite /data

USER fluxsite
VOLUME /data
EXPOSE 8000
# Only the compose simulator profile needs it: see deploy/docker-entrypoint.
ENTRYPOINT ["fluxsite-entrypoint"]
CMD ["gunicorn", "-c", "python:fluxsite.gunicorn_conf", "fluxsite.wsgi"]
