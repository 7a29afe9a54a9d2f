#!/usr/bin/env bash
# keboola-cli (`kbagent`) end to end against kbstack serving host names and TLS itself, no proxy.
# kbagent insists on https://connection.<suffix>, derives every other service by host name on
# port 443, and refuses download URLs on loopback addresses, so this runs server and client inside
# a private network and mount namespace (`unshare -n -m`, root): 10.99.0.1 on the namespace's own
# loopback device, and a private /etc/hosts bind-mounted over the real one. Nothing leaves it.
#
# Usage: tests/clients/kbagent.sh <kbstack binary> <python with kbagent installed>
set -euo pipefail
BIN="$1"
PY="$2"
HERE="$(cd "$(dirname "$0")" && pwd)"

if [ "${KBSTACK_IN_NETNS:-}" != 1 ]; then
  exec env KBSTACK_IN_NETNS=1 unshare -n -m --propagation private "$0" "$@"
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

TOKEN="1-1-kbagente2e$(date +%s)abcdefghijklmnopqrst"
KBSTACK_DATA_DIR="$WORK/data" KBSTACK_MASTER_TOKEN="$TOKEN" \
  "$BIN" serve --listen "$ADDR:0" --stack-suffix "$SUFFIX" --tls-listen "$ADDR:443" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  grep -q "TLS listening" "$WORK/server.log" && break
  sleep 0.1
done
grep -q "TLS listening" "$WORK/server.log" || { cat "$WORK/server.log"; echo "kbstack did not start"; exit 1; }

export SSL_CERT_FILE="$WORK/data/tls/ca.pem" REQUESTS_CA_BUNDLE="$WORK/data/tls/ca.pem"
export KBC_TOKEN="$TOKEN" KBC_STORAGE_API_URL="https://connection.$SUFFIX"
export KBAGENT_CONFIG_DIR="$WORK/kbagent" KBAGENT_SKIP_UPDATE=1 KBAGENT_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1
export KBAGENT_BIN="$(dirname "$PY")/kbagent" E2E_WORK="$WORK"
if ! "$PY" "$HERE/kbagent_e2e.py"; then
  echo "---- kbstack log (tail)"; tail -n 40 "$WORK/server.log"
  exit 1
fi
