# The Bredgio runner image: `bredgio runner` with Debian's Chromium.
# Build from the repository root: docker build -f docker/runner.Dockerfile .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BREDGIO_DATA_DIR=/data \
    BREDGIO_CHROMIUM_PATH=/usr/bin/chromium

# Chromium from Debian (Playwright drives it through executable_path; no browser
# download), fonts so that CJK text and emoji render in pages and screenshots, and tini
# to reap the zombies Chromium's helpers leave behind.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        chromium \
        fonts-liberation \
        fonts-noto-cjk \
        fonts-noto-color-emoji \
        tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY pyproject.toml README.md ./
COPY api ./api
COPY flows ./flows
COPY profiles ./profiles
COPY runner ./runner
RUN pip install --no-deps .

# The same uid/gid as the API image: both write to the shared data volume. The runner
# owns the profiles under /data/profiles.
RUN groupadd --system --gid 10001 bredgio \
    && useradd --system --uid 10001 --gid bredgio --create-home --home-dir /home/bredgio bredgio \
    && mkdir -p /data/media /data/profiles /data/artifacts \
    && chown -R bredgio:bredgio /data
USER bredgio
VOLUME ["/data"]

# -s: reap as a subreaper too when it is not PID 1 (compose's `init: true` puts
# docker-init there).
ENTRYPOINT ["/usr/bin/tini", "-s", "--"]
CMD ["bredgio", "runner"]
