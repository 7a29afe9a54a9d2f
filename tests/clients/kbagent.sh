#!/usr/bin/env bash
# keboola-cli (`kbagent`) end to end against kbstack serving host names and TLS itself, in a
# private network namespace (served_stack.sh).
#
# Usage: tests/clients/kbagent.sh <kbstack binary> <python with kbagent installed> [step_name ...]
set -euo pipefail
BIN="$1"
PY="$2"
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/served_stack.sh"
enter_netns "$@"
start_served_stack "$BIN" kbagente2e

export KBC_TOKEN="$TOKEN" KBC_STORAGE_API_URL="https://connection.$SUFFIX" KBC_MANAGE_API_TOKEN="$MANAGE_TOKEN"
export KBAGENT_CONFIG_DIR="$WORK/kbagent" KBAGENT_SKIP_UPDATE=1 KBAGENT_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1
export KBAGENT_BIN="$(dirname "$PY")/kbagent" E2E_WORK="$WORK"
if ! "$PY" "$HERE/kbagent_e2e.py" "${@:3}"; then
  echo "---- kbstack log (tail)"; tail -n 40 "$WORK/server.log"
  exit 1
fi
