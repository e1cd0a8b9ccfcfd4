#!/bin/sh
# One-off (temporal-create-namespace): the namespace and the custom search attributes that
# ovirt-tasks writes and `ovirt-tasks list` / the Web UI filter on. Keep the list in step with
# SEARCH_ATTRIBUTE_REGISTRATIONS in src/shared/search-attributes.ts (test/compose.test.ts checks).
set -eu
namespace="${DEFAULT_NAMESPACE:-default}"

# Retries `$@` every 2 s for up to a minute.
retry() {
  attempt=1
  until "$@"; do
    [ "$attempt" -lt 30 ] || { echo "create-namespace: gave up on: $*"; return 1; }
    attempt=$((attempt + 1))
    sleep 2
  done
}

retry temporal operator cluster health --address "$TEMPORAL_ADDRESS"

temporal operator namespace describe --address "$TEMPORAL_ADDRESS" -n "$namespace" >/dev/null 2>&1 ||
  temporal operator namespace create --address "$TEMPORAL_ADDRESS" -n "$namespace" --retention 7d

# Idempotent: names that already exist with the same type are accepted. Retried: a new namespace
# takes a few seconds to reach the server's namespace cache.
retry temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$namespace" \
  --name CommandType --type Keyword \
  --name CommandStatus --type Keyword \
  --name VmId --type Keyword \
  --name ImageIds --type KeywordList \
  --name StoragePoolId --type Keyword \
  --name VdsmTaskIds --type KeywordList \
  --name ParentCommandId --type Keyword \
  --name AsyncTaskState --type Keyword
echo "create-namespace: $namespace ready"
