# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY rules ./rules
RUN pip install --no-cache-dir --upgrade pip==24.3.1 \
 && pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
 && rm -rf /wheels \
 && useradd --create-home --uid 10001 carrybot
USER 10001
WORKDIR /home/carrybot
ENV CARRYBOT_LOG__FORMAT=json \
    CARRYBOT_TELEMETRY__HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
EXPOSE 9108
# /healthz answers while the process and its event loop are alive
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4).status == 200 else 1)"]
# SIGTERM stops after the current tick, cancels working orders, flushes the store and exits 0
STOPSIGNAL SIGTERM
ENTRYPOINT ["carrybot"]
CMD ["run"]
