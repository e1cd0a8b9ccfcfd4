#!/bin/sh
# Run by the postgres image once, when its data directory is created: the inventory's own role and
# database, next to (and separate from) Temporal's.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -v password="$OVIRT_TASKS_DB_PASSWORD" <<'SQL'
CREATE ROLE ovirt_tasks LOGIN PASSWORD :'password';
CREATE DATABASE ovirt_tasks OWNER ovirt_tasks;
SQL
