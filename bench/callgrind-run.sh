#!/usr/bin/env bash
# Instructions per datagram of `flowlens run` (default pipeline: aggregate
# -> DuckDB store, plus the accuracy tracker), counted by valgrind's
# callgrind, which does not depend on the machine's load. flowlens runs
# under callgrind twice, fed SECS1 and then SECS2 seconds of the capture
# at RATE datagrams/s (slow enough that nothing is lost under valgrind:
# each run's socket summary is checked); the difference of the two totals
# divided by the difference in datagrams is the cost of one datagram,
# start-up excluded. Every thread's instructions count: decoding,
# aggregation, the store's appends, and the runtime's idle work. The
# counts are dumped with callgrind_control while flowlens still runs (a
# signal to a Go program under callgrind trips an assertion of callgrind's,
# so it is then killed); the socket's drop counter and queue in
# /proc/net/udp say whether everything sent was read.
#
# Usage: bench/callgrind-run.sh FLOWLENS_BINARY [RATE SECS1 SECS2] [-- extra run flags]
#   bench/callgrind-run.sh /tmp/flowlens 1000 5 15
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:?flowlens binary}; shift
rate=${1:-1000}; s1=${2:-5}; s2=${3:-15}
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
extra=("$@")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
one() { # SECS -> "instructions datagrams"
	local port=$((20000 + RANDOM % 20000))
	GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1" \
		"$bin" run --input.sflow.listen=127.0.0.1:$port --input.netflow.listen= --console.enabled=false \
		--log.format=json --log.stats_interval=0s --output.ndjson.path= --store.path="$tmp/store.$1" "${extra[@]}" \
		>/dev/null 2>"$tmp/log.$1" &
	local pid=$!
	for _ in $(seq 1 120); do grep -q '"flowlens started"' "$tmp/log.$1" 2>/dev/null && break; sleep 0.5; done
	sleep 2
	"$bin" replay --to 127.0.0.1:$port --rate "$rate" --loops -1 --duration "${1}s" "$root/testdata/ovs/ovs-sflow.pcap" >"$tmp/replay.$1"
	sleep 3
	local hex f drops=0 queued=0
	hex=$(printf '%04X' "$port")
	while read -r -a f; do
		queued=$((queued + 16#${f[4]#*:})); drops=$((drops + ${f[12]}))
	done < <(grep " 0100007F:$hex " /proc/net/udp)
	callgrind_control -d "$pid" >/dev/null 2>&1
	for _ in $(seq 1 60); do ls "$tmp"/cg."$1".* >/dev/null 2>&1 && break; sleep 0.5; done
	sleep 2
	kill -KILL $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	if [ "$drops" != 0 ] || [ "$queued" != 0 ]; then
		echo "run of ${1}s: $drops datagrams dropped, $queued bytes left unread: lower RATE" >&2
		exit 1
	fi
	local sent
	sent=$(sed -n 's/^sent \([0-9]*\) datagrams.*/\1/p' "$tmp/replay.$1")
	echo "$(grep -h -m1 '^summary:' "$tmp"/cg."$1".* | awk '{s+=$2} END {print s}') $sent"
}
read -r i1 d1 < <(one "$s1")
read -r i2 d2 < <(one "$s2")
awk -v i1="$i1" -v i2="$i2" -v d1="$d1" -v d2="$d2" 'BEGIN { printf "%.0f instructions per datagram (%d datagrams: %d, %d datagrams: %d)\n", (i2-i1)/(d2-d1), d1, i1, d2, i2 }'
