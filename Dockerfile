# Minimal image of the pipeline's user code (the production issue makes it multi-stage).
# The server deployment talks to ClickHouse over HTTP, so the embedded engine is not installed.
FROM python:3.11-slim
WORKDIR /opt/zakaz
COPY pyproject.toml README.md workspace.yaml ./
COPY zakaz_pipeline ./zakaz_pipeline
RUN pip install --no-cache-dir . && useradd --create-home zakaz
USER zakaz
ENV DAGSTER_HOME=/home/zakaz/dagster_home
EXPOSE 4000
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "zakaz_pipeline.definitions"]
