# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY rules ./rules
RUN pip install --no-cache-dir --upgrade pip==24.3.1 \
 && pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 carrybot
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER carrybot
WORKDIR /home/carrybot
ENV CARRYBOT_LOG__FORMAT=json \
    PYTHONUNBUFFERED=1
# paper trading on the bundled replay by default; SIGTERM ends the run
STOPSIGNAL SIGTERM
ENTRYPOINT ["carrybot"]
CMD ["run"]
