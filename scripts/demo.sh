#!/usr/bin/env bash
# `npm run demo`: install, build, then the whole stack in one process with a real RemoveVm of web-01.
# Extra arguments go to `ovirt-tasks dev` (e.g. npm run demo -- --ui-port 9233).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install.sh
npm run build
exec node bin/ovirt-tasks dev --demo "$@"
