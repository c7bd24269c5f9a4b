# syntax=docker/dockerfile:1
# The pipeline's image. docker-compose.yml runs it as the user-code gRPC server, the Dagster
# webserver and the daemon; the DockerRunLauncher starts every run as a container of it.
# The server deployment talks to ClickHouse over HTTP: the embedded engine (chDB, the
# `embedded` extra) is not installed, only the `deploy` extra (Dagster's PostgreSQL storage
# and Docker run launcher).

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: a virtual environment with the project and its deployment dependencies ---
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY zakaz_pipeline ./zakaz_pipeline
# The versions the demo and the tests run too (constraints.txt).
RUN /opt/venv/bin/pip install -c constraints.txt ".[deploy]" \
    && /opt/venv/bin/python -m pip uninstall --yes pip

# --- final: the slim base, the venv, the instance configuration, a non-root user ---
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home
# /var/lib/zakaz/webhooks: Docker fills a new named volume from the image's directory, owner
# included, so the webhook queue's volume (docker-compose.yml) is writable by the user.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/zakaz zakaz \
    && mkdir -p /opt/dagster/dagster_home/storage /var/lib/zakaz/webhooks \
    && chown -R zakaz:zakaz /opt/dagster /var/lib/zakaz
COPY --from=builder /opt/venv /opt/venv
COPY infra/dagster/dagster.yaml /opt/dagster/dagster_home/dagster.yaml
COPY infra/dagster/workspace.yaml /opt/dagster/workspace.yaml
WORKDIR /opt/dagster
USER zakaz
EXPOSE 4000
# The user-code server; compose overrides the command for the webserver and the daemon.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "zakaz_pipeline.definitions"]
