# moto's standalone S3 server, for the object-storage variant of `make test-compose` only.
FROM python:3.11-slim
RUN python -m venv /opt/moto && /opt/moto/bin/pip install --no-cache-dir --quiet "moto[server]>=5,<6"
EXPOSE 5000
CMD ["/opt/moto/bin/moto_server", "-H", "0.0.0.0", "-p", "5000"]
