# syntax=docker/dockerfile:1
#
# trtc-ingest-reconciler: production image (see docs/production.md).
#
#   docker build -t trtc-ingest-reconciler .
#   docker run --rm \
#     -e TENCENTCLOUD_SECRET_ID -e TENCENTCLOUD_SECRET_KEY \
#     -e RECONCILER_STATE -e PGPASSWORD \
#     -v "$PWD/manifests:/manifests:ro" \
#     trtc-ingest-reconciler plan /manifests
#
# Nothing secret is baked in: credentials and the state location come from the
# environment at run time. The image runs as UID/GID 10001; its working directory
# /var/lib/reconciler is writable by that user (the default SQLite state lands in
# /var/lib/reconciler/.reconciler/state.db: mount a volume there, or use
# PostgreSQL via RECONCILER_STATE).

ARG PYTHON_IMAGE=python:3.12-slim

# --- build: wheels for the project and every dependency, then a venv from them ---
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler/ reconciler/

# The venv is made without pip and filled by the build stage's pip (pip >= 22.3
# --python), from local wheels only (--no-index): no second resolution against the
# index, and no pip in the final image.
RUN python -m pip wheel --wheel-dir /wheels ".[postgres]" \
 && python -m venv --without-pip /opt/reconciler \
 && python -m pip --python /opt/reconciler/bin/python install \
        --no-index --find-links /wheels "trtc-ingest-reconciler[postgres]" \
 && /opt/reconciler/bin/reconciler --version \
 && /opt/reconciler/bin/python -c "import psycopg"

# --- final: the venv on a clean slim image, as a non-root user ---
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="trtc-ingest-reconciler" \
      org.opencontainers.image.description="Stop TRTC stream-ingest tasks declared in YAML manifests: plan, apply, state." \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 reconciler \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/reconciler --shell /usr/sbin/nologin reconciler \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/reconciler \
 && install -d -m 0755 /manifests

# Same path as in the build stage: the venv's scripts point at /opt/reconciler/bin/python.
COPY --from=build /opt/reconciler /opt/reconciler

ENV PATH=/opt/reconciler/bin:$PATH \
    HOME=/var/lib/reconciler \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /var/lib/reconciler
USER 10001:10001

# `run` exits 0 on SIGTERM after committing in-flight work (docker stop, pod deletion).
STOPSIGNAL SIGTERM
ENTRYPOINT ["reconciler"]
CMD ["run", "/manifests", "--interval", "5m"]
