#!/usr/bin/env bash
# CPU and allocation profiles of `flowlens run` (default pipeline:
# aggregate → DuckDB store, or FLOWLENS_FLAGS) fed by `flowlens replay` at
# RATE datagrams/s for DURATION, on 127.0.0.1. Relative shares in the
# profiles hold on a loaded machine, where wall-clock rates do not.
#
# Usage: bench/profile.sh OUTDIR [FLOWLENS_BINARY]
#   RATE=50000 DURATION=20s SOCKETS=2 PCAP=testdata/ovs/ovs-sflow.pcap
#   FLOWLENS_FLAGS="--output.ndjson.path=/tmp/x.ndjson --store.enabled=false"
# Then: go tool pprof -top OUTDIR/cpu.pprof; go tool pprof -sample_index=alloc_space -top OUTDIR/mem.pprof
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: bench/profile.sh OUTDIR [FLOWLENS_BINARY]}
bin=${2:-}
RATE=${RATE:-50000} DURATION=${DURATION:-20s} SOCKETS=${SOCKETS:-1}
PCAP=${PCAP:-$root/testdata/ovs/ovs-sflow.pcap}
mkdir -p "$out"
if [ -z "$bin" ]; then
	bin=$out/flowlens
	(cd "$root" && go build -o "$bin" ./cmd/flowlens)
fi
port=$((20000 + RANDOM % 20000))
store=$(mktemp -d)
trap 'rm -rf "$store"' EXIT
FLOWLENS_CPUPROFILE=$out/cpu.pprof FLOWLENS_MEMPROFILE=$out/mem.pprof \
	"$bin" run --input.sflow.listen=127.0.0.1:$port --input.netflow.listen= --console.enabled=false \
	--log.format=json --log.stats_interval=0s --output.ndjson.path= --store.path="$store" ${FLOWLENS_FLAGS:-} \
	2>"$out/flowlens.log" &
pid=$!
sleep 2
"$bin" replay --to 127.0.0.1:$port --rate "$RATE" --loops -1 --duration "$DURATION" --sockets "$SOCKETS" "$PCAP" | tee "$out/replay.txt"
sleep 1
grep -E '^(VmHWM|VmRSS)' /proc/$pid/status | tee "$out/rss.txt"
awk '{print "cpu_seconds", ($14+$15)/100}' /proc/$pid/stat | tee -a "$out/rss.txt"
kill -TERM $pid
wait $pid || true
grep -E '"msg":"(agent|socket|output|aggregate)[a-z ]*summary"' "$out/flowlens.log" | cut -c1-400 || true
