#!/bin/sh
# One-off (temporal-admin-tools): creates or upgrades Temporal's two databases. Safe to re-run:
# `create` ignores an existing database and update-schema applies only missing versions.
set -eu

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

for db in temporal temporal_visibility; do
  case "$db" in
    temporal) schema_dir=/etc/temporal/schema/postgresql/v12/temporal/versioned ;;
    temporal_visibility) schema_dir=/etc/temporal/schema/postgresql/v12/visibility/versioned ;;
  esac
  echo "setup-postgres: $db"
  sql_tool --db "$db" create
  sql_tool --db "$db" setup-schema -v 0.0
  sql_tool --db "$db" update-schema -d "$schema_dir"
done
echo "setup-postgres: done"
