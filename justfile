# gpt-hedge everyday recipes. `just` itself comes from PyPI (rust-just), installed
# into .venv by scripts/bootstrap.sh — run these as `.venv/bin/just <recipe>`.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv/bin"

# list recipes
default:
    @{{venv}}/just --list

# create .venv and install everything (add --system for nginx/chromium)
setup *FLAGS:
    scripts/bootstrap.sh {{FLAGS}}

# newcomer's first run: a simulated session, then the dashboard on loopback
demo *ARGS:
    {{venv}}/hedge demo {{ARGS}}

# run a simulated session (embedded default: generated market, SQLite)
run *ARGS:
    {{venv}}/hedge run {{ARGS}}

# the whole test suite (lint + tests), as CI runs it
test *ARGS: lint typecheck
    {{venv}}/pytest -q {{ARGS}}

# fast tests only (skip the slow ones)
test-fast *ARGS:
    {{venv}}/pytest -q -m "not slow" {{ARGS}}

# ruff
lint:
    {{venv}}/ruff check .

# mypy on the public packages
typecheck:
    {{venv}}/mypy

# benchmarks (bench/): figures with their same-run baselines, JSON + table
bench *ARGS:
    {{venv}}/python -m bench {{ARGS}}

# prove the log's hash chain
verify *ARGS:
    {{venv}}/hedge verify {{ARGS}}

# rebuild every projection from the log
rebuild *ARGS:
    {{venv}}/hedge rebuild {{ARGS}}

# dashboard on loopback
dashboard *ARGS:
    {{venv}}/hedge dashboard {{ARGS}}

# regenerate docs/events.md from the schemas
docs:
    {{venv}}/python -m eventlog.catalogue > docs/events.md
