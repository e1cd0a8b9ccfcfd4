#!/usr/bin/env bash
# `npm run chaos [-- flags]`: builds the engine (workers run as `node bin/ovirt-tasks worker`
# children) and the runner (bench/ → lib/bench-build/), then runs the chaos scenarios. Exits
# non-zero on any violated invariant. `-- --help` lists the flags; `-- --seed N` replays a schedule.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install.sh
npm run --silent build
npx tsc -p bench/tsconfig.build.json
exec node lib/bench-build/bench/chaos.js "$@"
