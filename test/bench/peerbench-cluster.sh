#!/usr/bin/env bash
# coord on three nodes against ZooKeeper (or etcd) on three nodes, one peerbench workload,
# alternated: peerbench's own scripts/ratio.sh starts only a single coord server.
#
#   PEERBENCH=/path/to/peerbench test/bench/peerbench-cluster.sh WORKLOAD [zk3|etcd3]
#
# PEERBENCH: a writable copy of ../shared/peerbench after `npm ci` there (its README). Starts a
# three-node coord cluster from this checkout (built) on 127.0.0.1:27171-27173, and the peer
# with peerbench's scripts/servers.sh; runs WORKLOAD against each, ROUNDS times (default 2),
# DURATION seconds each (default 5); prints each run and the ratio of the medians; stops
# everything it started. WORKLOAD: seq-put conc-put conc-get cas-hot watch-fanout lock-handoff.
set -euo pipefail
workload=${1:?usage: PEERBENCH=dir $0 WORKLOAD [zk3|etcd3]}
peer=${2:-zk3}
case "$peer" in zk3) psys=zookeeper ;; etcd3) psys=etcd ;; *) echo "peer must be zk3 or etcd3" >&2; exit 2 ;; esac
repo=$(cd "$(dirname "$0")/../.." && pwd)
pb=${PEERBENCH:?set PEERBENCH to a copy of ../shared/peerbench with npm ci done}
export COORD_REPO=$repo
ROUNDS=${ROUNDS:-2} DURATION=${DURATION:-5}
tmp=$(mktemp -d)
pids=()
cleanup() {
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  (cd "$pb" && scripts/servers.sh stop "$peer" >/dev/null 2>&1) || true
  rm -rf "$tmp"
}
trap cleanup EXIT
spec="n1=ws://127.0.0.1:27171,n2=ws://127.0.0.1:27172,n3=ws://127.0.0.1:27173"
for i in 1 2 3; do
  node "$repo/bin/coord.mjs" server --id "n$i" --peers "$spec" --host 127.0.0.1 --port "2717$i" \
    --data "$tmp/d$i" --log-level warn >"$tmp/s$i.log" 2>&1 &
  pids+=($!)
done
printf '%s\n' "${pids[@]}" >"$tmp/pids"
for i in 1 2 3; do
  for _ in $(seq 150); do curl -sf "127.0.0.1:2717$i/readyz" >/dev/null && break; sleep 0.2; done
  curl -sf "127.0.0.1:2717$i/readyz" >/dev/null || { echo "coord n$i not ready:"; cat "$tmp/s$i.log"; exit 2; }
done
cd "$pb"
peps=$(scripts/servers.sh start "$peer" | tail -1)
run() { # label system endpoints pidsfile
  ./node_modules/.bin/tsx src/cli.ts --system "$2" --endpoints "$3" --label "$1" --workloads "$workload" \
    --duration "$DURATION" --pids-file "$4" --out "$tmp/$1-$r.json" >"$tmp/$1-$r.log" 2>&1 || { tail -5 "$tmp/$1-$r.log"; exit 3; }
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1])).results[0];
    if (!r.check.ok) { console.log(`${process.argv[2]}: check FAILED: ${r.check.detail}`); process.exit(3); }
    console.log(`${process.argv[2]} ${r.workload}: ${Math.round(r.opsPerSec)} ops/s, p50 ${r.latencyMs.p50} ms`)' "$tmp/$1-$r.json" "$1"
}
for r in $(seq "$ROUNDS"); do
  run coord3 coord "ws://127.0.0.1:27171,ws://127.0.0.1:27172,ws://127.0.0.1:27173" "$tmp/pids"
  run "$peer" "$psys" "$peps" "${PEERBENCH_STATE:-/tmp/peerbench-state}/$peer/pids"
done
node -e '
  const fs = require("fs"); const [dir, peer, w, n] = process.argv.slice(1);
  const med = (xs) => { xs.sort((a, b) => a - b); const m = xs.length >> 1; return xs.length % 2 ? xs[m] : (xs[m - 1] + xs[m]) / 2; };
  const rate = (l) => med(Array.from({ length: +n }, (_, i) => JSON.parse(fs.readFileSync(`${dir}/${l}-${i + 1}.json`)).results[0].opsPerSec));
  const c = rate("coord3"), p = rate(peer);
  console.log(`coord3/${peer} ${w} ratio ${(c / p).toFixed(2)} (coord3 ${Math.round(c)} ops/s, ${peer} ${Math.round(p)} ops/s)`);
' "$tmp" "$peer" "$workload" "$ROUNDS"
