#!/usr/bin/env bash
# End-to-end ingest benchmark: the highest replay rate at which `flowlens run`
# (output disabled, and NDJSON to a file on disk) loses < 0.1 % of the real
# OVS capture's datagrams, next to a count-only UDP reader, in one run.
# Traffic goes to 127.0.0.1 only. See BENCHMARKS.md.
#
# Usage: bench/ingest.sh [LABEL] [flags for cmd/ingest...]
#   LABEL (default "default") names the result files:
#   bench/results/ingest-LABEL.txt (log and table) and .jsonl (every trial).
# Examples:
#   bench/ingest.sh                       # 1 sending socket, 10 s trials
#   bench/ingest.sh sockets2 -sockets 2   # 2 sending sockets
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
