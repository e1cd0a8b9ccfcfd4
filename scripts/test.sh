#!/usr/bin/env bash
# `npm test`: install, PostgreSQL for the inventory tests, Chromium for the browser test, the
# time-skipping test server for the workflow unit tests, typecheck, lint, build (the CLI tests run
# the built bin/ovirt-tasks), then jest. Extra arguments go to jest.
# Exits with the first failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A report from an earlier run must never pass for this one's.
rm -f test-results/jest.json
mkdir -p test-results

step() { echo "==> $*" >&2; }

step install
bash scripts/install.sh
step postgres
# Exported so the inventory tests use the server binaries found (or installed) here.
PG_BIN="$(bash scripts/ensure-postgres.sh)"
export PG_BIN
step temporal-server
# test/cluster.test.ts runs the production shape: the Temporal server, its schema tool and the Web
# UI server, built from the Go module proxy once (long on a cold cache) here rather than inside jest.
for piece in server sql-tool schema ui-server ui-config; do
  bash scripts/ensure-temporal-server.sh "$piece" >/dev/null
done
step chromium
# test/web-ui.test.ts drives Debian's Chromium through playwright-core (it never downloads a browser);
# exported so the test uses the one found (or installed) here.
CHROMIUM_PATH="$(bash scripts/ensure-chromium.sh)"
export CHROMIUM_PATH
step test-server
# Exported so the workflow unit tests (test/unit/*.workflow.test.ts) run the time-skipping test
# server found (or built from Maven Central) here; the SDK's own download needs the open internet.
TEMPORAL_TEST_SERVER="$(bash scripts/ensure-test-server.sh)"
export TEMPORAL_TEST_SERVER
step typecheck
npm run --silent typecheck
step lint
npm run --silent lint
step build
npm run --silent build
step jest
# --json writes the machine-readable report to the file; the usual human output still goes to stderr.
npx jest --json --outputFile=test-results/jest.json "$@"
