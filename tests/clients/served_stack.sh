# Sourced by the client end-to-end scripts (kbagent.sh, mcp.sh): kbstack serving host names and
# TLS itself, no proxy, inside a private network and mount namespace (`unshare -n -m`, root).
# The clients insist on https://connection.<suffix>, derive every other service by host name on
# port 443, and (keboola-cli) refuse download URLs on loopback addresses: 10.99.0.1 goes on the
# namespace's own loopback device and a private /etc/hosts is bind-mounted over the real one.
# Nothing leaves the namespace.

# Re-runs the calling script inside the namespace (once): call as `enter_netns "$@"`.
enter_netns() {
  if [ "${KBSTACK_IN_NETNS:-}" != 1 ]; then
    exec env KBSTACK_IN_NETNS=1 unshare -n -m --propagation private "$0" "$@"
  fi
}

# Starts `$1` (the kbstack binary) for the stack suffix local.keboola.dev with a master token
# named after `$2`; sets WORK (its temp dir, removed on exit), TOKEN, MANAGE_TOKEN (the super
# admin's), SUFFIX and SERVER, and
# exports SSL_CERT_FILE / REQUESTS_CA_BUNDLE (httpx and requests) for kbstack's CA.
start_served_stack() {
  local bin="$1" name="$2" addr=10.99.0.1
  SUFFIX=local.keboola.dev
  ip link set lo up
  ip addr add "$addr/32" dev lo
  WORK="$(mktemp -d)"
  trap 'kill ${SERVER:-} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
  "$bin" hosts --stack-suffix "$SUFFIX" | awk -v a="$addr" '{ $1 = a; print }' >"$WORK/hosts"
  echo "127.0.0.1 localhost" >>"$WORK/hosts"
  mount --bind "$WORK/hosts" /etc/hosts
  TOKEN="1-1-${name}$(date +%s)abcdefghijklmnopqrstuvwx"
  MANAGE_TOKEN="1-${name}manage$(date +%s)abcdefghijklmnopqrstuvwx"
  KBSTACK_DATA_DIR="$WORK/data" KBSTACK_DATA_APPS_PYTHON="${KBSTACK_TEST_STREAMLIT_PYTHON:-$HOME/.cache/kbstack-test/streamlit-venv/bin/python}" KBSTACK_MASTER_TOKEN="$TOKEN" KBSTACK_MANAGE_TOKEN="$MANAGE_TOKEN" \
    "$bin" serve --listen "$addr:0" --stack-suffix "$SUFFIX" --tls-listen "$addr:443" >"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do
    grep -q "TLS listening" "$WORK/server.log" && break
    sleep 0.1
  done
  grep -q "TLS listening" "$WORK/server.log" || { cat "$WORK/server.log"; echo "kbstack did not start"; exit 1; }
  export SSL_CERT_FILE="$WORK/data/tls/ca.pem" REQUESTS_CA_BUNDLE="$WORK/data/tls/ca.pem"
}
