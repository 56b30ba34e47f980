# syntax=docker/dockerfile:1
#
# trtc-ingest-reconciler: production image (see docs/production.md).
#
#   docker build -t ghcr.io/your-org/trtc-ingest-reconciler:0.1.0 .
#   docker run --rm \
#     -e TENCENTCLOUD_SECRET_ID -e TENCENTCLOUD_SECRET_KEY \
#     -e RECONCILER_STATE -e PGPASSWORD \
#     -v "$PWD/manifests:/manifests:ro" \
#     ghcr.io/your-org/trtc-ingest-reconciler:0.1.0 plan /manifests
#
# Releases build and publish it with .github/workflows/release.yml.
#
# Nothing secret is baked in: credentials and the state location come from the
# environment at run time. The image runs as UID/GID 10001; its working directory
# /var/lib/reconciler is writable by that user (the default SQLite state lands in
# /var/lib/reconciler/.reconciler/state.db: mount a volume there, or use
# PostgreSQL via RECONCILER_STATE).

# The base image, pinned by digest: the same bytes on every build. The tag says
# which release the digest is; to move to a newer one, look its digest up
# (`docker buildx imagetools inspect python:3.13-slim-bookworm`, or let
# Renovate/Dependabot do it) and change both. 3.13 is the newest Python the test
# suite runs on.
ARG PYTHON_IMAGE=python:3.13.8-slim-bookworm@sha256:61169c2bdb8e6bb44a8dfad33f569d324d52f079fded9a204b322a6fb9c9f799

# --- build: a venv from the lock, then the project's own wheel into it ---
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# The lock first, so this layer is rebuilt only when requirements/ changes. Every
# file is checked against its hash (--require-hashes); nothing is resolved on the
# day. The venv is made without pip and filled by the build stage's pip (pip >= 22.3
# --python), so the final image has no pip.
COPY requirements/main.txt requirements/build.txt requirements/
RUN python -m venv --without-pip /opt/reconciler \
 && python -m pip --python /opt/reconciler/bin/python install \
        --require-hashes --requirement requirements/main.txt \
 && python -m venv /opt/build \
 && /opt/build/bin/python -m pip install --require-hashes --requirement requirements/build.txt

# The project's wheel, built by the locked setuptools (no isolated build
# environment resolved from the index), installed without dependencies: they are
# all in the venv already.
COPY pyproject.toml README.md LICENSE ./
COPY reconciler/ reconciler/
RUN /opt/build/bin/python -m pip wheel --no-deps --no-build-isolation --wheel-dir /dist . \
 && python -m pip --python /opt/reconciler/bin/python install --no-deps --no-index /dist/*.whl \
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
