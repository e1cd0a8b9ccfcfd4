#!/usr/bin/env bash
# What both quick-start commands need first: current node_modules and a Temporal CLI binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# better-sqlite3 compiles against Node's headers; use the installed ones instead of downloading.
if [[ -f /usr/include/node/common.gypi ]]; then
  export npm_config_nodedir=/usr
fi

# npm writes node_modules/.package-lock.json on every install: older than the lock file = stale.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "install: npm ci" >&2
  npm ci
fi

temporal_cli="$(bash scripts/ensure-temporal.sh)"
echo "install: Temporal CLI $temporal_cli" >&2
