#!/usr/bin/env bash
# Shared set-up for the two README commands: system packages, a virtualenv with the
# locked Python dependencies, and a Chromium for the runners.
#   scripts/setup.sh          runtime (Chromium, Python deps)
#   scripts/setup.sh --test   plus what the tests need (PostgreSQL, Redis, dev tools)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
VENV="${BREDGIO_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
WANT_TEST=0
[[ "${1:-}" == "--test" ]] && WANT_TEST=1

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      SUDO=sudo
    else
      log "missing Debian packages (${missing[*]}); run as root or install them" && return 1
    fi
  fi
  log "installing Debian packages: ${missing[*]}"
  ${SUDO:-} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq "${missing[@]}" >/dev/null
}

if command -v apt-get >/dev/null 2>&1; then
  packages=(python3-venv)
  [[ -x /usr/bin/chromium ]] || packages+=(chromium)
  if [[ $WANT_TEST -eq 1 ]]; then
    packages+=(postgresql redis-server)
  fi
  apt_install "${packages[@]}" || log "continuing without some system packages"
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.bredgio-deps"
want="$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "installing Python dependencies (requirements.lock)"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q -r requirements.lock
  "$VENV/bin/python" -m pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi

if [[ -z "${BREDGIO_CHROMIUM_PATH:-}" && ! -x /usr/bin/chromium ]]; then
  log "Debian chromium unavailable; falling back to Playwright's browser download"
  "$VENV/bin/python" -m playwright install chromium || log "could not install a Chromium"
fi
