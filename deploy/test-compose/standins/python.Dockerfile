# Stand-in for python:3.11-slim where no image registry answers: Debian bookworm's Python 3.11.
# For tests on this machine only; never pushed.
FROM local/debian:bookworm
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-venv python-is-python3 ca-certificates >/dev/null \
 && update-ca-certificates >/dev/null \
 && printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > /etc/pip.conf \
 && rm -rf /var/lib/apt/lists/*
LABEL org.fluxsite.stand-in="python:3.11-slim"
CMD ["python3"]
