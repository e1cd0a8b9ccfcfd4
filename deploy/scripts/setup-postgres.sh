#!/bin/sh
# Creates or upgrades Temporal's two databases: once in compose (temporal-admin-tools), at every
# start of `npm run cluster`. Safe to re-run: `create` ignores an existing database and
# update-schema applies only missing versions. Outside the admin-tools image, TEMPORAL_SQL_TOOL and
# TEMPORAL_SCHEMA_DIR say where the schema tool and the schema (laid out as in the image) are.
set -eu
schema_root="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema}"

sql_tool() {
  "${TEMPORAL_SQL_TOOL:-temporal-sql-tool}" --plugin "${DB:-postgres12}" --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

for db in temporal temporal_visibility; do
  case "$db" in
    temporal) schema_dir="$schema_root/postgresql/v12/temporal/versioned" ;;
    temporal_visibility) schema_dir="$schema_root/postgresql/v12/visibility/versioned" ;;
  esac
  echo "setup-postgres: $db"
  sql_tool --db "$db" create
  sql_tool --db "$db" setup-schema -v 0.0
  sql_tool --db "$db" update-schema -d "$schema_dir"
done
echo "setup-postgres: done"
