# `pipeline schedule` in a container: the monthly edition and the regular refresh, as a non-root user,
# with the state database, the site and the outbox in volumes. Build, run, back up: README.md, "Operations".
#   docker build -t newsletter-pipeline .
#   docker run -d --name newsletter --env-file /etc/newsletter-pipeline/env --stop-timeout 900 \
#     -v newsletter-state:/app/state -v newsletter-out:/app/out -v newsletter-outbox:/app/outbox newsletter-pipeline
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 pipeline \
 && useradd --system --uid 10001 --gid pipeline --home-dir /app --no-create-home --shell /usr/sbin/nologin pipeline

# The package, its built-in plugins and shipped templates (the source folder is removed once they are installed).
COPY pyproject.toml README.md /src/
COPY pipeline /src/pipeline
COPY plugins /src/plugins
COPY templates /src/templates
RUN pip install --no-cache-dir /src && rm -rf /src

# The project: pipeline.toml and what it names (templates, content, local plugins), read-only to the
# pipeline. Mount your own over them (e.g. -v ./pipeline.toml:/app/pipeline.toml:ro). Relative paths in
# pipeline.toml are taken from /app, so state_dir "state", out_dir "out" (the site, to publish) and the outbox
# delivery's folder "outbox" (subscribers' messages, never to publish) are the three volumes below.
WORKDIR /app
COPY pipeline.toml ./
COPY templates ./templates
COPY content ./content
COPY local_plugins ./local_plugins
# No subscriber list is copied (.dockerignore): the example starts with an empty one; mount your content/ over it.
RUN mkdir state out outbox && chown pipeline:pipeline state out outbox && chmod 0700 state outbox \
 && printf 'email,name,themes\n' > content/subscribers.csv

USER 10001:10001
VOLUME ["/app/state", "/app/out", "/app/outbox"]

# SIGTERM (docker stop): the current run finishes first, then exit 143; give it time (--stop-timeout).
STOPSIGNAL SIGTERM
# Healthy: pipeline.toml and its plugins load and the state database opens (`docker inspect` shows the JSON).
HEALTHCHECK --interval=5m --timeout=1m --start-period=2m CMD ["pipeline", "status", "--json"]
CMD ["pipeline", "schedule"]
