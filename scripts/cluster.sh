#!/usr/bin/env bash
# `npm run cluster`: install, build, then the production shape on loopback (src/cluster): PostgreSQL,
# the Temporal services as separate processes, the Web UI, the VDSM simulator and two workers, all
# from docker-compose.yml's scripts, config and environment. The first run builds the Temporal
# server, its schema tool and the Web UI server from the Go module proxy (long, once).
# Extra arguments go to the launcher (e.g. npm run cluster -- --free-ports).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install.sh
npm run build
exec node lib/cluster/main.js "$@"
