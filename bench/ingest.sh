#!/usr/bin/env bash
# End-to-end ingest benchmark: the highest replay rate at which each receiver
# loses < 0.1 % of the real OVS capture's datagrams, all searched in one run,
# taking turns: a count-only UDP reader, `flowlens run` with the output
# disabled, per-sample NDJSON, and its default (aggregate -> DuckDB store),
# and the peers pmacct sfacctd (aggregating, print plugin to JSON) and
# goflow2 (JSON per sample) when installed. Traffic goes to 127.0.0.1 only.
# See BENCHMARKS.md section 2.
#
# Usage: bench/ingest.sh [LABEL] [flags for cmd/ingest...]
#   LABEL (default "default") names the result files:
#   bench/results/ingest-LABEL.txt (log and table) and .jsonl (every trial).
# Peers: apt-get install pmacct; go install github.com/netsampler/goflow2/v2/cmd/goflow2@v2.2.6;
#   sysctl -w net.core.rmem_max=33554432 (sfacctd asks for its 32 MiB with SO_RCVBUF).
# Examples:
#   bench/ingest.sh                       # 1 sending socket, 10 s trials, every receiver
#   bench/ingest.sh quiet -sockets 2 -sender-cpus 1 -receiver-cpus 0
#   bench/ingest.sh store -receivers countonly,flowlens-store,sfacctd
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
label=${1:-default}
[ $# -gt 0 ] && shift

# Build the collector from the product tree, and the two helpers.
(cd "$here/.." && go build -o /tmp/flowlens-bench ./cmd/flowlens)
(cd "$here" && go build -o /tmp/countonly-bench ./cmd/countonly && go build -o /tmp/ingest-bench ./cmd/ingest)

mkdir -p "$here/results"
out="$here/results/ingest-$label"
rm -f "$out.jsonl"
cd "$here"
echo "# tree: $(git -C .. rev-parse --short HEAD 2>/dev/null) + $(git -C .. status --short 2>/dev/null | grep -v ' bench/' | wc -l) uncommitted paths outside bench/" | tee "$out.txt"
/tmp/ingest-bench -flowlens /tmp/flowlens-bench -countonly /tmp/countonly-bench \
	-pcap ../testdata/ovs/ovs-sflow.pcap -duration 10s -json "$out.jsonl" "$@" | tee -a "$out.txt"
