# Nudge worker / traffic generator image.
#   docker build -t nudge .
#   docker run --rm nudge --help          (ENTRYPOINT is the `nudge` CLI; CMD defaults to `worker`)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Every dependency ships a manylinux wheel for CPython 3.11, so no compiler is needed.
# Only what the package needs, so edits to tests, docs or deploy/ do not invalidate this layer.
# README* is a glob so the COPY does not fail on a tree without a README (pyproject names one).
COPY pyproject.toml README* /tmp/nudge-src/
COPY schemas /tmp/nudge-src/schemas
COPY streams /tmp/nudge-src/streams
COPY agents /tmp/nudge-src/agents
RUN pip install /tmp/nudge-src && rm -rf /tmp/nudge-src

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
