#!/usr/bin/env bash
# Prints the path of a Temporal CLI binary (the dev server lives in it), building one if needed.
# Order: $TEMPORAL_CLI, `temporal` on PATH, <project>/.tools/bin/temporal, else go install v1.5.1
# (the last tag that go-installs; server 1.29.1, UI 2.42.1). Never relies on the SDK's download:
# these machines have no open internet, only the Go module proxy.
set -euo pipefail

TEMPORAL_CLI_VERSION=v1.5.1
MIN_GO_MINOR=25
project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_bin="$project_root/.tools/bin"

fail() {
  echo "ensure-temporal: $*" >&2
  exit 1
}

if [[ -n "${TEMPORAL_CLI:-}" ]]; then
  [[ -x "$TEMPORAL_CLI" ]] || fail "TEMPORAL_CLI=$TEMPORAL_CLI is not an executable file"
  echo "$TEMPORAL_CLI"
  exit 0
fi

if on_path="$(command -v temporal 2>/dev/null)"; then
  echo "$on_path"
  exit 0
fi

if [[ -x "$tools_bin/temporal" ]]; then
  echo "$tools_bin/temporal"
  exit 0
fi

command -v go >/dev/null 2>&1 ||
  fail "no Temporal CLI found and Go is missing: install Go >= 1.$MIN_GO_MINOR, or set TEMPORAL_CLI to a temporal binary"
go_version="$(go env GOVERSION)" # e.g. go1.26.8
[[ "$go_version" =~ ^go1\.([0-9]+) ]] || fail "cannot read the Go version ($go_version)"
((BASH_REMATCH[1] >= MIN_GO_MINOR)) ||
  fail "Temporal CLI $TEMPORAL_CLI_VERSION needs Go >= 1.$MIN_GO_MINOR, found $go_version; upgrade Go or set TEMPORAL_CLI"

echo "ensure-temporal: building Temporal CLI $TEMPORAL_CLI_VERSION into $tools_bin (a few minutes, once)..." >&2
mkdir -p "$tools_bin"
GOBIN="$tools_bin" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION" >&2 ||
  fail "go install github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION failed (is the Go module proxy reachable?)"
echo "$tools_bin/temporal"
