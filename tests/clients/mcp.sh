#!/usr/bin/env bash
# keboola-mcp-server 1.105.1 end to end against kbstack serving host names and TLS itself, no proxy.
# The MCP server accepts only https://connection.<keboola domain> and derives every other service
# by rewriting the host name (queue., encryption., scheduler., sync-actions., query.) on port 443,
# so, as tests/clients/kbagent.sh does, this runs server and client inside a private network and
# mount namespace (`unshare -n -m`, root): 10.99.0.1 on the namespace's own loopback device and a
# private /etc/hosts bind-mounted over the real one. Nothing leaves it.
#
# Usage: tests/clients/mcp.sh <kbstack binary> <python with keboola-mcp-server installed> [step ...]
set -euo pipefail
BIN="$1"
PY="$2"
shift 2
HERE="$(cd "$(dirname "$0")" && pwd)"

if [ "${KBSTACK_IN_NETNS:-}" != 1 ]; then
  exec env KBSTACK_IN_NETNS=1 unshare -n -m --propagation private "$0" "$BIN" "$PY" "$@"
fi

ADDR=10.99.0.1
SUFFIX=local.keboola.dev
ip link set lo up
ip addr add "$ADDR/32" dev lo

WORK="$(mktemp -d)"
trap 'kill $SERVER 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$BIN" hosts --stack-suffix "$SUFFIX" | awk -v a="$ADDR" '{ $1 = a; print }' >"$WORK/hosts"
echo "127.0.0.1 localhost" >>"$WORK/hosts"
mount --bind "$WORK/hosts" /etc/hosts

TOKEN="1-1-mcpe2e$(date +%s)abcdefghijklmnopqrstuvwx"
KBSTACK_DATA_DIR="$WORK/data" KBSTACK_MASTER_TOKEN="$TOKEN" \
  "$BIN" serve --listen "$ADDR:0" --stack-suffix "$SUFFIX" --tls-listen "$ADDR:443" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  grep -q "TLS listening" "$WORK/server.log" && break
  sleep 0.1
done
grep -q "TLS listening" "$WORK/server.log" || { cat "$WORK/server.log"; echo "kbstack did not start"; exit 1; }

# httpx (the MCP server's HTTP client) trusts SSL_CERT_FILE; kbcstorage (requests) REQUESTS_CA_BUNDLE.
export SSL_CERT_FILE="$WORK/data/tls/ca.pem" REQUESTS_CA_BUNDLE="$WORK/data/tls/ca.pem"
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
