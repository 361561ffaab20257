#!/usr/bin/env bash
# Set up gpt-hedge on a fresh machine: Python venv with every dependency, and
# (with --system) the Debian packages the tests need: nginx, chromium, htpasswd.
# Idempotent: re-running is quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

want_system=0
for a in "$@"; do
  case "$a" in
    --system) want_system=1 ;;
    *) echo "usage: scripts/bootstrap.sh [--system]" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "bootstrap: Python >= 3.11 required (found $("$PY" --version 2>&1))" >&2
  exit 2
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.hedge-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

if [ "$want_system" = 1 ]; then
  need=()
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
  command -v chromium >/dev/null 2>&1 || need+=(chromium chromium-driver)
  command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
  # PostgreSQL server binaries for the throwaway test clusters (initdb/pg_ctl/postgres).
  if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    need+=(postgresql)
  fi
  if [ ${#need[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
  fi
fi
echo "bootstrap: ready (.venv/bin/hedge)"
