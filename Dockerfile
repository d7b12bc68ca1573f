# syntax=docker/dockerfile:1
# FlowMate image: one image for every role (web, worker, scheduler, migrate); compose.yaml and
# the docs pick the role with the command. Two stages: `build` installs the Python packages into
# a venv and builds the Reflex frontend (bun, node_modules) once; `runtime` carries only the
# venv, the code and the built frontend, and runs as an unprivileged user.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 \
    REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=0
# npm only fetches bun (Reflex's JavaScript runtime) from the npm registry.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
RUN npm install --silent --prefix /opt/bun bun@1.4.4
ENV REFLEX_BUN_PATH=/opt/bun/node_modules/bun/bin/bun.exe
WORKDIR /app
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Dependencies first (cached while only the code changes).
COPY pyproject.toml README.md ./
COPY engine/__init__.py engine/__init__.py
COPY flowmate_app/__init__.py flowmate_app/__init__.py
RUN pip install -e .
COPY . .
RUN pip install --no-deps -e .
# The frontend, built now rather than at every start. Its event and API URLs use the page's own
# host (Reflex replaces "localhost" with it), on port 3000, or the default port behind TLS.
RUN REFLEX_API_URL=http://localhost:3000 FLOWMATE_DATABASE_URL=sqlite:////tmp/build.db \
    reflex export --frontend-only --no-zip --env prod \
    && test -f .web/build/client/index.html \
    && rm -rf .web/node_modules /tmp/build.db

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=0 \
    REFLEX_STATES_WORKDIR=/var/lib/flowmate/states \
    FLOWMATE_ENV=production FLOWMATE_DATABASE_URL=sqlite:////var/lib/flowmate/flowmate.db
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/flowmate --create-home flowmate
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
# The only writable places: the data folder (SQLite, Reflex state) and Reflex's .web (it writes
# small runtime files there at start).
RUN mkdir -p /var/lib/flowmate/exports && chown -R flowmate:flowmate /app/.web /var/lib/flowmate
WORKDIR /app
USER flowmate
VOLUME ["/var/lib/flowmate"]
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=3 \
    CMD ["flowmate", "health", "--url", "http://127.0.0.1:3000/api/health"]
# Default role: the web app (UI, API, webhooks on :3000). Without FLOWMATE_REDIS_URL it also runs
# the workers and the scheduler in-process (the embedded mode: one container, SQLite in the volume).
CMD ["python", "-m", "flowmate_app.serve", "--host", "0.0.0.0", "--port", "3000"]
