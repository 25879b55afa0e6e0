# Nudge worker / traffic generator image.
#   docker build -t nudge .
#   docker run --rm nudge --help          (ENTRYPOINT is the `nudge` CLI; CMD defaults to `worker`)
# The wheel is built in a stage with a C compiler, so the core inside it is compiled (setup.py);
# the image itself carries no compiler.
FROM python:3.11-slim AS wheel

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install --yes --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
# Only what the package needs, so edits to tests, docs or deploy/ do not invalidate this layer.
# README* is a glob so the COPY does not fail on a tree without a README (pyproject names one).
COPY pyproject.toml setup.py README* /src/
COPY schemas /src/schemas
COPY streams /src/streams
COPY agents /src/agents
RUN pip wheel --no-deps --wheel-dir /wheels /src

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Every dependency ships a manylinux wheel for CPython 3.11, so no compiler is needed here. The
# wheel is installed without the `embedded` extra: production talks to a real Kafka cluster, and
# the embedded broker (a 41 MB binary) stays out of the image.
COPY --from=wheel /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels

RUN groupadd --system --gid 10001 nudge \
    && useradd --system --uid 10001 --gid nudge --home-dir /home/nudge --create-home nudge \
    && mkdir -p /var/lib/nudge \
    && chown nudge:nudge /var/lib/nudge

# Listen on every interface in a container (the settings default is 127.0.0.1),
# and keep Faust's local data in a directory the non-root user owns.
ENV NUDGE_WEB_HOST=0.0.0.0 \
    NUDGE_WEB_PORT=6066 \
    NUDGE_DATA_DIR=/var/lib/nudge

WORKDIR /home/nudge
USER nudge

# /metrics (Prometheus) and the HTTP views
EXPOSE 6066

ENTRYPOINT ["nudge"]
CMD ["worker"]
