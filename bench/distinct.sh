#!/usr/bin/env bash
# Cost per distinct flow: flowlens' default pipeline (aggregate -> DuckDB
# store, console on) and pmacct's sfacctd (print plugin, JSON) fed by
# bench/cmd/flowgen at a fixed datagram rate with KEYS distinct 5-tuples
# per minute, one after the other for each KEYS. Per run: receiver CPU
# (cores), peak RSS (VmHWM, summed over sfacctd's processes), kernel drops,
# datagrams read, flowlens' aggregates and overflowed records, store size
# (and per hour), and the p95 of console queries (top src/dst over the
# last hour, the time series by source IP) taken 10 times at the end.
# Traffic goes to 127.0.0.1 only.
#
# Usage: bench/distinct.sh [LABEL]   (writes bench/results/distinct-LABEL.txt)
#   RATE=20000 SAMPLES=5 DURATION=150s KEYS="1000 10000 100000 1000000" BAD=0.01
#   RECEIVERS="flowlens sfacctd" FLOWLENS_FLAGS=... FLOWLENS_BIN=(a built flowlens)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
label=${1:-run}
RATE=${RATE:-20000} SAMPLES=${SAMPLES:-5} DURATION=${DURATION:-150s} BAD=${BAD:-0}
KEYS=${KEYS:-"1000 10000 100000 1000000"} RECEIVERS=${RECEIVERS:-"flowlens sfacctd"}
if [ -n "${FLOWLENS_BIN:-}" ]; then
	cp "$FLOWLENS_BIN" /tmp/flowlens-distinct
else
	(cd "$here/.." && go build -o /tmp/flowlens-distinct ./cmd/flowlens)
fi
(cd "$here" && go build -o /tmp/flowgen-distinct ./cmd/flowgen)
out=$here/results/distinct-$label.txt
mkdir -p "$here/results"
secs=${DURATION%s}
{
echo "# distinct flows $(date -u +%FT%TZ), tree $(git -C "$here/.." rev-parse --short HEAD), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# rate $RATE datagrams/s × $SAMPLES samples, $DURATION per run, bad fraction $BAD, flowlens flags: ${FLOWLENS_FLAGS:-}"
echo "| receiver | keys/min | sent | read | kernel drops | CPU (cores) | peak RSS | aggregates | overflowed | store MB (per hour) | query p95 top / series | load |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
} | tee "$out"
tree_cpu() { # pid -> CPU seconds of pid and its children
	local t=0 p
	for p in $1 $(pgrep -P "$1" || true); do t=$(awk -v t="$t" '{print t + ($14+$15)/100}' /proc/$p/stat 2>/dev/null || echo "$t"); done
	echo "$t"
}
tree_hwm() {
	local k=0 p
	for p in $1 $(pgrep -P "$1" || true); do k=$((k + $(awk '/VmHWM/ {print $2}' /proc/$p/status 2>/dev/null || echo 0))); done
	echo $((k / 1024))
}
udp_drops() { # port -> kernel drops on 127.0.0.1:port
	local hex; hex=$(printf '%04X' "$1")
	awk -v a="0100007F:$hex" '$2 == a {d += $NF} END {print d + 0}' /proc/net/udp
}
p95() { sort -n | awk '{a[NR]=$1} END {i=int(NR*0.95+0.999); if (i<1) i=1; printf "%.0f", a[i]*1000}'; }
for keys in $KEYS; do
	for recv in $RECEIVERS; do
		port=$((20000 + RANDOM % 20000)); cport=$((port + 1))
		dir=$(mktemp -d)
		case $recv in
		flowlens)
			/tmp/flowlens-distinct run --input.sflow.listen=127.0.0.1:$port --input.netflow.listen= \
				--console.listen=127.0.0.1:$cport --log.format=json --log.stats_interval=0s \
				--output.ndjson.path= --store.path="$dir/store" ${FLOWLENS_FLAGS:-} 2>"$dir/log" &
			;;
		sfacctd)
			cat >"$dir/sfacctd.conf" <<CONF
daemonize: false
sfacctd_ip: 127.0.0.1
sfacctd_port: $port
sfacctd_pipe_size: 33554432
sfacctd_renormalize: true
plugins: print[p]
aggregate[p]: peer_src_ip, in_iface, out_iface, src_mac, dst_mac, vlan, etype, src_host, dst_host, proto, src_port, dst_port, tcpflags
print_output[p]: json
print_output_file[p]: $dir/out-%s.json
print_refresh_time[p]: 60
print_history[p]: 1m
CONF
			sfacctd -f "$dir/sfacctd.conf" 2>"$dir/log" &
			;;
		esac
		pid=$!
		sleep 3
		c0=$(tree_cpu $pid)
		gen=$(/tmp/flowgen-distinct -to 127.0.0.1:$port -rate "$RATE" -samples "$SAMPLES" -keys "$keys" -duration "$DURATION" -bad "$BAD")
		sleep 2
		c1=$(tree_cpu $pid); hwm=$(tree_hwm $pid); drops=$(udp_drops $port)
		sent=$(sed -n 's/^sent \([0-9]*\) datagrams.*/\1/p' <<<"$gen")
		aggs=- over=- store=- q=- read=-
		if [ "$recv" = flowlens ]; then
			m=$(curl -s 127.0.0.1:$cport/metrics)
			aggs=$(awk '/^flowlens_aggregate_aggregates_total/ {s+=$2} END {print s+0}' <<<"$m")
			over=$(awk '/^flowlens_aggregate_overflowed_records_total/ {s+=$2} END {print s+0}' <<<"$m")
			read=$(awk '/^flowlens_socket_datagrams_total/ {s+=$2} END {printf "%d", s}' <<<"$m")
			for _ in $(seq 10); do curl -s -o /dev/null -w '%{time_total}\n' "127.0.0.1:$cport/api/v1/top?by=src_ip,dst_ip&from=-1h"; done | p95 >"$dir/qt"
			for _ in $(seq 10); do curl -s -o /dev/null -w '%{time_total}\n' "127.0.0.1:$cport/api/v1/timeseries?metric=bps&by=src_ip&from=-1h"; done | p95 >"$dir/qs"
			q="$(cat "$dir/qt") / $(cat "$dir/qs") ms"
		fi
		if [ "$recv" = sfacctd ]; then kill -INT $pid; else kill -TERM $pid; fi
		wait $pid 2>/dev/null || true
		if [ "$recv" = flowlens ]; then
			mb=$(du -sm "$dir/store" | cut -f1)
			store="$mb ($(awk -v m="$mb" -v s="$secs" 'BEGIN {printf "%.0f", m * 3600 / s}'))"
		fi
		echo "| $recv | $keys | $sent | $read | $drops | $(awk -v a="$c0" -v b="$c1" -v s="$secs" 'BEGIN {printf "%.2f", (b-a)/(s+2)}') | ${hwm} MB | $aggs | $over | $store | $q | $(cut -d' ' -f1 /proc/loadavg) |" | tee -a "$out"
		rm -rf "$dir"
	done
done
