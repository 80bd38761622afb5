#!/usr/bin/env bash
# Three gateway replicas on this machine, as one cluster (docs/guides/cluster.md), with one command:
#   deploy/local/cluster-demo.sh [DIR]          (default DIR: ./data/cluster-demo; Ctrl-C stops all three)
# Writes a development PKI (certs init --peer gw-0 --peer gw-1 --peer gw-2) and one config per replica
# into DIR, starts the replicas in the background (logs in DIR/gw-N.log) and waits until each one sees
# the other two. Ports of replica N (0, 1, 2): OTLP gRPC 4317+10N, OTLP HTTP 4318+10N, admin 8888+10N,
# peers 4319+10N, all on 127.0.0.1. The admin token is "demo" (STELLA_ADMIN_TOKEN, local use only).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
stella="$root/stella"
dir="$(mkdir -p "${1:-$root/data/cluster-demo}" && cd "${1:-$root/data/cluster-demo}" && pwd)"
export STELLA_ADMIN_TOKEN="${STELLA_ADMIN_TOKEN:-demo}"

"$stella" telemetry certs init --out "$dir/certs" --tenant demo --peer gw-0 --peer gw-1 --peer gw-2 >/dev/null

peers='[{"id":"gw-0","endpoint":"127.0.0.1:4319"},{"id":"gw-1","endpoint":"127.0.0.1:4329"},{"id":"gw-2","endpoint":"127.0.0.1:4339"}]'
pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping the replicas…"
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT

for n in 0 1 2; do
  off=$((n * 10))
  # JSON is YAML: one config per replica, the same peer list for all (each skips its own entry).
  cat > "$dir/gw-$n.yaml" <<YAML
{
  "dataDir": "$dir/gw-$n",
  "receivers": { "grpc": { "endpoint": "127.0.0.1:$((4317 + off))" }, "http": { "endpoint": "127.0.0.1:$((4318 + off))" } },
  "admin": { "endpoint": "127.0.0.1:$((8888 + off))" },
  "cluster": {
    "self": "gw-$n",
    "listen": "127.0.0.1:$((4319 + off))",
    "peers": $peers,
    "tls": { "certFile": "$dir/certs/peer-gw-$n.pem", "keyFile": "$dir/certs/peer-gw-$n-key.pem", "caFile": "$dir/certs/ca.pem", "peerNames": ["spiffe://stella.local/peer/*"] }
  }
}
YAML
  "$stella" telemetry serve --config "$dir/gw-$n.yaml" >"$dir/gw-$n.log" 2>&1 &
  pids+=($!)
done

# Wait until every replica's status lists three live members (or one of them exits).
node --input-type=module -e '
const token = process.env.STELLA_ADMIN_TOKEN;
const deadline = Date.now() + 60_000;
for (const port of [8888, 8898, 8908]) {
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/admin/v1/status`, { headers: { authorization: `Bearer ${token}` } });
      if (r.ok && (await r.json()).cluster?.live?.length === 3) break;
    } catch {}
    if (Date.now() > deadline) { console.error(`replica on admin port ${port} did not see the cluster within 60 s`); process.exit(1); }
    await new Promise((r) => setTimeout(r, 200));
  }
}
' || { echo "see the logs in $dir/gw-*.log" >&2; exit 1; }

cat <<TEXT
Three replicas are up and see each other (logs: $dir/gw-N.log):
  gw-0  OTLP gRPC 127.0.0.1:4317  HTTP 127.0.0.1:4318  admin http://127.0.0.1:8888
  gw-1  OTLP gRPC 127.0.0.1:4327  HTTP 127.0.0.1:4328  admin http://127.0.0.1:8898
  gw-2  OTLP gRPC 127.0.0.1:4337  HTTP 127.0.0.1:4338  admin http://127.0.0.1:8908
Try (in another shell, STELLA_ADMIN_TOKEN=$STELLA_ADMIN_TOKEN):
  ./stella telemetry status --admin 127.0.0.1:8898                  # the "cluster" block: live members
  ./stella telemetry incident on --admin 127.0.0.1:8888 --reason demo --ttl 10m   # fleet-wide, on gw-0
  ./stella telemetry status --admin 127.0.0.1:8908                  # the incident, on another replica
Ctrl-C stops all three.
TEXT
wait "${pids[@]}"
