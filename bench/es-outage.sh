#!/usr/bin/env bash
# Long-outage fault test of the Elasticsearch output (see BENCHMARKS.md):
# `flowlens run` shipping to a stand-in Elasticsearch node under a steady
# `flowlens replay` load; the node goes down for OUTAGE and comes back; the
# test passes when every sample sent was indexed exactly once and the spool
# drained. Traffic goes to 127.0.0.1 only.
#
# Usage: [OUTAGE=10m] [RATE=500] [BEFORE=30s] [AFTER=60s] [LATENCY=200ms] \
#          bench/es-outage.sh [LABEL] [flags for cmd/esoutage...]
#   LABEL (default "outage-$OUTAGE") names bench/results/es-LABEL.txt.
# Examples:
#   bench/es-outage.sh                  # the 10-minute outage (~13 min)
#   OUTAGE=60s bench/es-outage.sh       # a quick run (~3 min)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
OUTAGE=${OUTAGE:-10m}
RATE=${RATE:-500}
BEFORE=${BEFORE:-30s}
AFTER=${AFTER:-60s}
LATENCY=${LATENCY:-200ms}
label=${1:-outage-$OUTAGE}
[ $# -gt 0 ] && shift

(cd "$here/.." && go build -o /tmp/flowlens-esoutage ./cmd/flowlens)
(cd "$here" && go build -o /tmp/esoutage ./cmd/esoutage)

mkdir -p "$here/results"
out="$here/results/es-$label.txt"
cd "$here"
echo "# $(date -u +'%Y-%m-%d %H:%M UTC'), tree $(git -C .. rev-parse --short HEAD 2>/dev/null) + $(git -C .. status --short 2>/dev/null | wc -l) uncommitted paths, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out"
echo "# OUTAGE=$OUTAGE RATE=$RATE BEFORE=$BEFORE AFTER=$AFTER LATENCY=$LATENCY bench/es-outage.sh $label $*" | tee -a "$out"
/tmp/esoutage -flowlens /tmp/flowlens-esoutage -pcap ../testdata/ovs/ovs-sflow.pcap \
	-rate "$RATE" -before "$BEFORE" -outage "$OUTAGE" -after "$AFTER" -latency "$LATENCY" "$@" 2>&1 | tee -a "$out"
