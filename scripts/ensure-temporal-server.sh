#!/usr/bin/env bash
# Prints the path of one piece of the production Temporal cluster (`npm run cluster`), building the
# pieces once if needed. What: `server` (default; temporal-server), `sql-tool` (temporal-sql-tool),
# `schema` (a dir laid out like the admin-tools image's /etc/temporal/schema), `ui-server` (the Web
# UI's own server) or `ui-config` (the dir of its config, docker.yaml, as in the temporalio/ui image).
#
# Order, as scripts/ensure-temporal.sh does for the CLI: the environment variable
# ($TEMPORAL_SERVER, $TEMPORAL_SQL_TOOL, $TEMPORAL_SCHEMA_DIR, $TEMPORAL_UI_SERVER,
# $TEMPORAL_UI_CONFIG_DIR), then PATH (temporal-server, temporal-sql-tool, ui-server), then
# <project>/.tools, else `go install` from the Go module proxy into .tools: server and schema tool
# of server v1.29.1 (the version CLI v1.5.1 embeds; its go.mod has no replace directive) and
# ui-server v2.42.1 (the CLI's Web UI). The schema and the UI config ship inside those modules and
# are copied next to the binaries, so nothing reads the Go module cache afterwards.
set -euo pipefail

TEMPORAL_SERVER_VERSION=v1.29.1
TEMPORAL_UI_VERSION=v2.42.1
MIN_GO_MINOR=25
project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$project_root/.tools"
tools_bin="$tools/bin"
schema_dir="$tools/temporal-schema"
ui_config_dir="$tools/temporal-ui/config"

fail() {
  echo "ensure-temporal-server: $*" >&2
  exit 1
}

what="${1:-server}"
case "$what" in
  server) env_name=TEMPORAL_SERVER path_name=temporal-server built="$tools_bin/temporal-server" ;;
  sql-tool) env_name=TEMPORAL_SQL_TOOL path_name=temporal-sql-tool built="$tools_bin/temporal-sql-tool" ;;
  schema) env_name=TEMPORAL_SCHEMA_DIR path_name='' built="$schema_dir" ;;
  ui-server) env_name=TEMPORAL_UI_SERVER path_name=ui-server built="$tools_bin/temporal-ui-server" ;;
  ui-config) env_name=TEMPORAL_UI_CONFIG_DIR path_name='' built="$ui_config_dir" ;;
  *) fail "unknown piece '$what' (server, sql-tool, schema, ui-server or ui-config)" ;;
esac

if [[ -n "${!env_name:-}" ]]; then
  [[ -e "${!env_name}" ]] || fail "$env_name=${!env_name} does not exist"
  echo "${!env_name}"
  exit 0
fi

if [[ -n "$path_name" ]] && on_path="$(command -v "$path_name" 2>/dev/null)"; then
  echo "$on_path"
  exit 0
fi

if [[ -e "$built" ]]; then
  echo "$built"
  exit 0
fi

command -v go >/dev/null 2>&1 ||
  fail "no $what found and Go is missing: install Go >= 1.$MIN_GO_MINOR, or set $env_name"
go_version="$(go env GOVERSION)" # e.g. go1.26.8
[[ "$go_version" =~ ^go1\.([0-9]+) ]] || fail "cannot read the Go version ($go_version)"
((BASH_REMATCH[1] >= MIN_GO_MINOR)) ||
  fail "Temporal server $TEMPORAL_SERVER_VERSION needs Go >= 1.$MIN_GO_MINOR, found $go_version; upgrade Go or set $env_name"

# The directory of a module version in the Go module cache (downloaded if missing).
module_dir() {
  local dir
  dir="$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" && -d "$dir" ]] || fail "go mod download $1 gave no directory"
  echo "$dir"
}

# `go install` names a binary after its package directory (cmd/server → server): install into a
# scratch GOBIN, then move each under the name the images use. Several concurrent callers (jest
# workers, scripts/test.sh) may race: a lock makes the others wait for the one build.
mkdir -p "$tools_bin"
exec 9>"$tools/.ensure-temporal-server.lock"
flock 9
if [[ -e "$built" ]]; then
  echo "$built"
  exit 0
fi
scratch="$(mktemp -d "$tools/.go-install.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

case "$what" in
  server | sql-tool | schema)
    if [[ ! -x "$tools_bin/temporal-server" || ! -x "$tools_bin/temporal-sql-tool" ]]; then
      echo "ensure-temporal-server: building Temporal server $TEMPORAL_SERVER_VERSION and its SQL schema tool into $tools_bin (long, once)..." >&2
      GOBIN="$scratch" go install \
        "go.temporal.io/server/cmd/server@$TEMPORAL_SERVER_VERSION" \
        "go.temporal.io/server/cmd/tools/sql@$TEMPORAL_SERVER_VERSION" >&2 ||
        fail "go install go.temporal.io/server/cmd/{server,tools/sql}@$TEMPORAL_SERVER_VERSION failed (is the Go module proxy reachable?)"
      mv -f "$scratch/server" "$tools_bin/temporal-server"
      mv -f "$scratch/sql" "$tools_bin/temporal-sql-tool"
    fi
    if [[ ! -d "$schema_dir" ]]; then
      src="$(module_dir "go.temporal.io/server@$TEMPORAL_SERVER_VERSION")/schema/postgresql"
      mkdir -p "$scratch/schema"
      cp -R "$src" "$scratch/schema/postgresql"
      chmod -R u+w "$scratch/schema" # the module cache is read-only; the copy must be removable
      mv "$scratch/schema" "$schema_dir"
    fi
    ;;
  ui-server | ui-config)
    if [[ ! -x "$tools_bin/temporal-ui-server" ]]; then
      echo "ensure-temporal-server: building the Temporal Web UI server $TEMPORAL_UI_VERSION into $tools_bin (once)..." >&2
      GOBIN="$scratch" go install "github.com/temporalio/ui-server/v2/cmd/server@$TEMPORAL_UI_VERSION" >&2 ||
        fail "go install github.com/temporalio/ui-server/v2/cmd/server@$TEMPORAL_UI_VERSION failed (is the Go module proxy reachable?)"
      mv -f "$scratch/server" "$tools_bin/temporal-ui-server"
    fi
    if [[ ! -d "$ui_config_dir" ]]; then
      src="$(module_dir "github.com/temporalio/ui-server/v2@$TEMPORAL_UI_VERSION")/config/docker.yaml"
      mkdir -p "$ui_config_dir"
      cp "$src" "$ui_config_dir/docker.yaml"
      chmod u+w "$ui_config_dir/docker.yaml"
    fi
    ;;
esac
echo "$built"
