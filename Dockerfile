# carrybot's image: paper trading on the venues' live public data until stopped (CARRYBOT_FEED=replay plays the
# bundled history instead). The base is an argument: python:3.11-slim where an image registry is reachable, or the
# Debian bookworm base that deploy/base-image.sh builds from Debian's packages (no registry needed):
#   deploy/base-image.sh && DOCKER_BUILDKIT=0 docker build --network host --build-arg BASE=carrybot-base:bookworm .
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
WORKDIR /src
# pip trusts the system's certificate store (an authority deploy/base-image.sh was given included)
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN python3 -m venv /opt/carrybot
COPY constraints.txt pyproject.toml README.md ./
COPY bot ./bot
COPY rules ./rules
# dependencies at the versions pinned in the repository; the venv, not wheels, goes to the final stage
RUN /opt/carrybot/bin/pip install --no-cache-dir --no-compile -c constraints.txt . \
 && /opt/carrybot/bin/python -m compileall -q /opt/carrybot/lib

FROM ${BASE}
COPY --from=build /opt/carrybot /opt/carrybot
# the state directory exists and belongs to the runtime user, so a named volume mounted on it starts out writable
RUN useradd --create-home --uid 10001 carrybot \
 && mkdir -p /home/carrybot/var \
 && chown 10001:10001 /home/carrybot/var
USER 10001
WORKDIR /home/carrybot
ENV PATH=/opt/carrybot/bin:$PATH \
    CARRYBOT_FEED=live \
    CARRYBOT_DATA_DIR=/home/carrybot/var \
    CARRYBOT_LOG__FORMAT=json \
    CARRYBOT_TELEMETRY__HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
VOLUME ["/home/carrybot/var"]
EXPOSE 9108
# /healthz answers while the process and its event loop are alive, on the port the settings name
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, sys, urllib.request; port = os.environ.get('CARRYBOT_TELEMETRY__PORT', '9108'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]
# SIGTERM stops after the current tick, cancels working orders, flushes the store and exits 0
STOPSIGNAL SIGTERM
ENTRYPOINT ["carrybot"]
CMD ["run"]
