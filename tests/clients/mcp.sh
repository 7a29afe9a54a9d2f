#!/usr/bin/env bash
# keboola-mcp-server 1.105.1 end to end against kbstack serving host names and TLS itself, in a
# private network namespace (served_stack.sh): the MCP server accepts only
# https://connection.<keboola domain> and derives every other service by rewriting the host name
# (queue., encryption., scheduler., sync-actions., query.) on port 443.
#
# Usage: tests/clients/mcp.sh <kbstack binary> <python with keboola-mcp-server installed> [step ...]
set -euo pipefail
BIN="$1"
PY="$2"
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/served_stack.sh"
enter_netns "$@"
shift 2
start_served_stack "$BIN" mcpe2e

export KBC_TEST_TOKEN="$TOKEN" KBC_TEST_API_URL="https://connection.$SUFFIX" E2E_WORK="$WORK"
# The MCP server reads its settings from the environment too (config.py): keep the host's out.
unset KBC_STORAGE_TOKEN KBC_STORAGE_API_URL STORAGE_API_URL KBC_WORKSPACE_SCHEMA KBC_BRANCH_ID HOSTNAME_SUFFIX
if ! "$PY" "${MCP_E2E_SCRIPT:-$HERE/mcp_e2e.py}" "$@"; then
  echo "---- kbstack log (tail)"; tail -n 60 "$WORK/server.log"
  [ -n "${MCP_E2E_KEEP_LOG:-}" ] && cp "$WORK/server.log" "$MCP_E2E_KEEP_LOG"
  exit 1
fi
[ -n "${MCP_E2E_KEEP_LOG:-}" ] && cp "$WORK/server.log" "$MCP_E2E_KEEP_LOG"
exit 0
