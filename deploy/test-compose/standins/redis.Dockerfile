# Stand-in for redis:7 where no image registry answers: Debian bookworm's Redis 7.0.
# For tests on this machine only; never pushed.
FROM local/debian:bookworm
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/*
# As the official image: without a config file, answer other containers (protected mode off).
COPY redis-entrypoint /usr/local/bin/
ENTRYPOINT ["redis-entrypoint"]
USER redis
LABEL org.fluxsite.stand-in="redis:7"
CMD ["redis-server"]
