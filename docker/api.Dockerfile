# The Bredgio API image: `bredgio api`; the compose file also runs `bredgio scheduler`
# and the admin commands (`bredgio user create`, `bredgio pat create`) from it.
# Build from the repository root: docker build -f docker/api.Dockerfile .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BREDGIO_DATA_DIR=/data

WORKDIR /app

# Dependencies first, in their own layer, so a code change does not reinstall them.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY pyproject.toml README.md ./
COPY api ./api
COPY flows ./flows
COPY profiles ./profiles
COPY runner ./runner
RUN pip install --no-deps .
# GET /bredgio-extension.zip serves the extension from ./extension (the workdir).
COPY extension ./extension

# The same uid/gid as the runner image: both write to the shared data volume.
RUN groupadd --system --gid 10001 bredgio \
    && useradd --system --uid 10001 --gid bredgio --create-home --home-dir /home/bredgio bredgio \
    && mkdir -p /data/media /data/profiles /data/artifacts \
    && chown -R bredgio:bredgio /data
USER bredgio
VOLUME ["/data"]

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["bredgio", "api", "--host", "0.0.0.0", "--port", "8000"]
