#!/usr/bin/env bash
# Prints the bin dir of a PostgreSQL server (initdb, pg_ctl, postgres), installing Debian's
# `postgresql` with apt-get when none is found. Order: $PG_BIN, `initdb` on PATH, the newest
# /usr/lib/postgresql/<version>/bin (where Debian puts it: not on PATH), else apt-get install.
set -euo pipefail

fail() {
  echo "ensure-postgres: $*" >&2
  exit 1
}

if [[ -n "${PG_BIN:-}" ]]; then
  [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] || fail "PG_BIN=$PG_BIN has no initdb and pg_ctl"
  echo "$PG_BIN"
  exit 0
fi

find_bin_dir() {
  local on_path newest
  if on_path="$(command -v initdb 2>/dev/null)"; then
    dirname "$(readlink -f "$on_path")"
    return 0
  fi
  newest="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$newest" ]] || return 1
  dirname "$newest"
}

if bin_dir="$(find_bin_dir)"; then
  echo "$bin_dir"
  exit 0
fi

[[ "$(id -u)" -eq 0 ]] || fail "PostgreSQL is not installed and installing it needs root: apt-get install postgresql, or set PG_BIN"
command -v apt-get >/dev/null 2>&1 || fail "PostgreSQL is not installed and there is no apt-get: install it, or set PG_BIN"

export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing or stale on a fresh machine: refresh them only then.
if ! apt-cache show postgresql >/dev/null 2>&1; then
  echo "ensure-postgres: apt-get update..." >&2
  apt-get update >&2 || fail "apt-get update failed"
fi
echo "ensure-postgres: installing postgresql with apt-get..." >&2
if ! apt-get install -y --no-install-recommends postgresql >&2; then
  echo "ensure-postgres: install failed; refreshing the package lists and trying again..." >&2
  apt-get update >&2 || fail "apt-get update failed"
  apt-get install -y --no-install-recommends postgresql >&2 || fail "apt-get install postgresql failed"
fi

bin_dir="$(find_bin_dir)" || fail "postgresql is installed but no initdb was found under /usr/lib/postgresql"
echo "$bin_dir"
