#!/usr/bin/env bash
# `npm run bench [-- flags]`: builds the engine (the bench runs `node bin/ovirt-tasks worker`
# children) and the bench itself (bench/ → lib/bench-build/), then runs it. `-- --help` lists the
# flags; docs/benchmarks.md explains the measures. Results: bench/results/<timestamp>.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install.sh
npm run --silent build
npx tsc -p bench/tsconfig.build.json
exec node lib/bench-build/bench/main.js "$@"
