# Stand-in for postgres:17 where no image registry answers: Debian trixie's PostgreSQL 17, with an
# entrypoint that honours POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB as the official image does.
# For tests on this machine only; never pushed.
FROM local/debian:trixie
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/no-main-cluster.conf \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-17 >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql \
 && chmod 0700 /var/lib/postgresql/data
COPY postgres-entrypoint /usr/local/bin/
ENV PATH=/usr/lib/postgresql/17/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
ENTRYPOINT ["postgres-entrypoint"]
STOPSIGNAL SIGINT
EXPOSE 5432
LABEL org.fluxsite.stand-in="postgres:17"
CMD ["postgres"]
