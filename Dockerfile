# riskmon worker image: `docker compose up` builds it (see "Running the stack" in the README).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY alerts ./alerts
COPY streams ./streams
COPY riskmon ./riskmon
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data riskmon \
    && mkdir -p /data \
    && chown riskmon /data

USER riskmon
# Metrics on all interfaces of the container; the port is what deploy/prometheus scrapes.
ENV RISKMON_WORKER_DATA_DIR=/data \
    RISKMON_METRICS_ADDR=0.0.0.0 \
    RISKMON_METRICS_PORT=9400
EXPOSE 9400
ENTRYPOINT ["riskmon"]
CMD ["worker"]
