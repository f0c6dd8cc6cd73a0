#!/usr/bin/env bash
# How accurate are flowlens's sFlow estimates on a real Open vSwitch, and where does a bias
# come from? Brings up a private OVS (userspace datapath) in a network namespace of its own
# with three veth "VMs", runs flowlens next to it, and for each traffic scenario records:
#   - what the generators sent and what arrived (iperf3 -J: packets, bytes, loss),
#   - the kernel's counters of the VM ports' host ends (ip -s link),
#   - what flowlens compares (GET /api/v1/accuracy: estimate vs OVS's sFlow counters, in σ),
#   - the samplers' sequence numbers vs sample_pool (samples lost before or after the agent),
#   - OVS's own datapath and upcall counters, and the machine's load.
# Everything is created here and removed on exit (namespaces flacc*). Needs root, OVS, iperf3.
#
#   sudo bench/accuracy-lab.sh                   # all scenarios, results in bench/results/accuracy-*
#   SCENARIOS="udp5 tcp40" SECONDS_EACH=20 sudo bench/accuracy-lab.sh
#   CAPTURE=lab-tcp.pcap CAPTURE_COUNT=3000 SCENARIOS=tcpmax sudo bench/accuracy-lab.sh
#       also records the sFlow datagrams Open vSwitch sends (the first CAPTURE_COUNT of them):
#       a high-rate capture of the lab's own for bench/ingest.sh -pcap (-pcap-port 16480)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
P=${PREFIX:-flacc$(($$ % 1000))}
HV=$P-hv
RATE=${RATE:-64}
POLL=${POLL:-10}
SECS=${SECONDS_EACH:-30}
SCENARIOS=${SCENARIOS:-"udp5 tcp40 udp200 tcpmax udpsmall"}
OUT=${OUT:-$here/results/accuracy-$(date -u +%Y%m%dT%H%M%SZ)}
W=$(mktemp -d /tmp/flowlens-acc-XXXXXX)
mkdir -p "$OUT"
export OVS_RUNDIR=$W/run OVS_DBDIR=$W/db OVS_LOGDIR=$W/log
mkdir -p "$OVS_RUNDIR" "$OVS_DBDIR" "$OVS_LOGDIR"
CPORT=18480
SPORT=16480
log() { printf '%s %s\n' "$(date -u +%T)" "$*" | tee -a "$OUT/log.txt" >&2; }

cleanup() {
	set +e
	[[ -f $W/flowlens.pid ]] && kill "$(cat "$W/flowlens.pid")" 2>/dev/null && sleep 1
	[[ -f $W/tcpdump.pid ]] && kill "$(cat "$W/tcpdump.pid")" 2>/dev/null
	for f in "$W"/iperf3-*.pid; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null; done
	ovs-appctl -t "$OVS_RUNDIR/ovs-vswitchd.ctl" exit --cleanup 2>/dev/null
	ovs-appctl -t "$OVS_RUNDIR/ovsdb-server.ctl" exit 2>/dev/null
	for ns in $P-vm1 $P-vm2 $P-vm3 $HV; do ip netns del "$ns" 2>/dev/null; done
	cp -f "$OVS_LOGDIR"/ovs-vswitchd.log "$OUT/" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

log "building flowlens"
(cd "$repo" && GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3} go build -buildvcs=false -o "$W/flowlens" ./cmd/flowlens)

ip netns add "$HV"
ip -n "$HV" link set lo up
ovsdb-tool create "$OVS_DBDIR/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ip netns exec "$HV" ovsdb-server "$OVS_DBDIR/conf.db" --remote=punix:"$OVS_RUNDIR/db.sock" \
	--pidfile="$OVS_RUNDIR/ovsdb-server.pid" --unixctl="$OVS_RUNDIR/ovsdb-server.ctl" \
	--log-file="$OVS_LOGDIR/ovsdb-server.log" --detach
export DB_SOCK=$OVS_RUNDIR/db.sock
vsctl() { ovs-vsctl --db=unix:"$OVS_RUNDIR/db.sock" --timeout=20 "$@"; }
vsctl --no-wait init
ip netns exec "$HV" ovs-vswitchd unix:"$OVS_RUNDIR/db.sock" --pidfile="$OVS_RUNDIR/ovs-vswitchd.pid" \
	--unixctl="$OVS_RUNDIR/ovs-vswitchd.ctl" --log-file="$OVS_LOGDIR/ovs-vswitchd.log" --detach
appctl() { ovs-appctl -t "$OVS_RUNDIR/ovs-vswitchd.ctl" "$@"; }
vsctl add-br br-int -- set bridge br-int datapath_type=netdev
ip -n "$HV" link set br-int up
for i in 1 2 3; do
	ns=$P-vm$i
	ip netns add "$ns"
	ip link add name "$P-v${i}h" netns "$HV" type veth peer name eth0 netns "$ns"
	ip -n "$ns" addr add 10.78.0.1$i/24 dev eth0
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 up
	ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null # the userspace datapath forwards partial checksums unfinished
	ip -n "$HV" link set "$P-v${i}h" up
	vsctl add-port br-int "$P-v${i}h"
	ip netns exec "$ns" iperf3 -s -D -I "$W/iperf3-$i.pid" -p 5201
done
ip netns exec $P-vm2 iperf3 -s -D -I "$W/iperf3-2b.pid" -p 5202 # a second sender into vm2 at the same time
log "OVS $(ovs-vswitchd --version | head -1) up in netns $HV; VMs $P-vm1..3 on br-int"

ip netns exec "$HV" "$W/flowlens" run --input.sflow.listen=127.0.0.1:$SPORT --console.listen=127.0.0.1:$CPORT \
	--store.enabled=false --log.stats_interval=0 >"$OUT/flowlens.log" 2>&1 &
echo $! >"$W/flowlens.pid"
sleep 2
vsctl -- --id=@s create sflow agent=lo target="\"127.0.0.1:$SPORT\"" header=128 sampling=$RATE polling=$POLL \
	-- set bridge br-int sflow=@s >/dev/null
api() { ip netns exec "$HV" curl -sf "http://127.0.0.1:$CPORT$1"; }
for i in 1 2 3; do ip netns exec $P-vm1 ping -c 1 -W 2 10.78.0.1$i >/dev/null || true; done

# kernel counters of the host ends (rx = what the VM sent into OVS), as JSON {ifname: [rxp, rxb, txp, txb]}
kstats() {
	ip -n "$HV" -s -j link show | python3 -c '
import json, sys
print(json.dumps({l["ifname"]: [l["stats64"]["rx"]["packets"], l["stats64"]["rx"]["bytes"], l["stats64"]["tx"]["packets"], l["stats64"]["tx"]["bytes"], l["stats64"]["rx"]["dropped"], l["stats64"]["tx"]["dropped"]] for l in json.load(sys.stdin)}))'
}

scenario() {
	local name=$1 args
	case $name in
	udp5) args="-u -b 5M -l 1400 --bidir" ;;         # the e2e test's UDP
	tcp40) args="-b 40M --bidir" ;;                  # the e2e test's TCP
	udp200) args="-u -b 200M -l 1400" ;;             # ~18 kpps
	udpsmall) args="-u -b 40M -l 64" ;;              # ~70 kpps of small frames: the datapath's limit here
	tcpmax) args="" ;;                               # as fast as it goes
	esac
	local d=$OUT/$name
	mkdir -p "$d"
	# Start at a window boundary's distance: whole counter windows inside the traffic.
	local t0 t1
	t0=$(date -u +%s)
	kstats >"$d/kstats0.json"
	appctl dpctl/show >"$d/dpctl0.txt" 2>&1 || true
	appctl coverage/show >"$d/coverage0.txt" 2>&1 || true
	cat /proc/loadavg >"$d/load0.txt"
	# vm1 -> vm2 and vm3 -> vm2 at once, so that vm2's out counts two inputs
	ip netns exec $P-vm1 iperf3 -J -c 10.78.0.12 -t "$SECS" $args >"$d/iperf-1-2.json" 2>&1 &
	local a=$!
	ip netns exec $P-vm3 iperf3 -J -c 10.78.0.12 -p 5202 -t "$SECS" $args >"$d/iperf-3-2.json" 2>&1 || true
	wait $a || true
	kstats >"$d/kstats1.json"
	appctl dpctl/show >"$d/dpctl1.txt" 2>&1 || true
	appctl coverage/show >"$d/coverage1.txt" 2>&1 || true
	cat /proc/loadavg >"$d/load1.txt"
	sleep $((2 * POLL + 2)) # the counter samples that close the windows
	t1=$(date -u +%s)
	api "/api/v1/accuracy?from=$t0&to=$t1" >"$d/accuracy.json"
	api "/metrics" | grep -E '^flowlens_(agent_sequence_lost|agent_flow_samples|socket_kernel_drops|output_records_dropped)' >"$d/metrics.txt" || true
	python3 - "$d" "$P" <<'EOF'
import json, sys, os
d, P = sys.argv[1], sys.argv[2]
acc = json.load(open(f"{d}/accuracy.json"))
k0, k1 = json.load(open(f"{d}/kstats0.json")), json.load(open(f"{d}/kstats1.json"))
lines = []
def p(s): lines.append(s); print(s)
p(f"load: {open(d+'/load0.txt').read().split()[0]} -> {open(d+'/load1.txt').read().split()[0]}")
try:
    ip = json.load(open(f"{d}/iperf-1-2.json"))
    for s in ip["end"]["streams"]:
        if "udp" in s:
            u = s["udp"]
            p(f"iperf3 vm1->vm2 udp: sent {u['packets']} pkts {u['bytes']} B")
    if "sum" in ip["end"] and "lost_packets" in ip["end"]["sum"]:
        sm = ip["end"]["sum"]
        p(f"iperf3 vm1->vm2 udp: lost {sm['lost_packets']} of {sm['packets']} ({sm.get('lost_percent',0):.2f} %)")
    if "sum_sent" in ip["end"]:
        p(f"iperf3 vm1->vm2 tcp: sent {ip['end']['sum_sent']['bytes']} B, retransmits {ip['end']['sum_sent'].get('retransmits')}")
except Exception as e:
    p(f"iperf3: {e}")
import re
def dp(f):
    m = re.search(r"hit:(\d+) missed:(\d+) lost:(\d+)", open(f).read())
    return [int(x) for x in m.groups()] if m else [0, 0, 0]
d0, d1 = dp(f"{d}/dpctl0.txt"), dp(f"{d}/dpctl1.txt")
vm = [n for n in k0 if n.startswith(P + "-v")]
rx = sum(k1[n][0] - k0[n][0] for n in vm)
tx = sum(k1[n][2] - k0[n][2] for n in vm)
proc = (d1[0] + d1[1]) - (d0[0] + d0[1])
p(f"datapath: processed {proc} packets (lost in upcalls {d1[2] - d0[2]}); VM ports' kernel rx {rx} ({100 * (rx - proc) / max(rx, 1):.2f} % never processed), kernel tx {tx}")
try:
    # TCP --bidir vm1<->vm2: what vm1 put on its veth besides its data segments is ACKs.
    ip = json.load(open(f"{d}/iperf-1-2.json"))
    mss = ip["start"].get("tcp_mss_default") or 1448
    sent = recv = 0
    for s in ip["end"]["streams"]:
        if "sender" in s and s["sender"].get("sender"):
            sent += s["sender"]["bytes"] + s["sender"].get("retransmits", 0) * mss
        elif "sender" in s:
            recv += s["sender"]["bytes"]
    if sent and recv:
        segs, rsegs = sent / mss, recv / mss
        n = f"{P}-v1h"
        acks = (k1[n][0] - k0[n][0]) - segs
        p(f"tcp vm1: ~{segs:.0f} data segments sent, ~{acks:.0f} other frames (ACKs) for ~{rsegs:.0f} segments received: one ACK per {rsegs / max(acks, 1):.1f}")
except Exception as e:
    pass
for i in (1, 2, 3):
    n = f"{P}-v{i}h"
    dk = [b - a for a, b in zip(k0[n], k1[n])]
    p(f"kernel {n}: rx {dk[0]} pkts {dk[1]} B (rx dropped {dk[4]}), tx {dk[2]} pkts {dk[3]} B (tx dropped {dk[5]})")
p(f"{'port':14} {'dir':3} {'status':16} {'win':>3} {'samples':>7} {'est pkts':>10} {'ctr pkts':>10} {'pk diff':>8} {'pk σ':>6} {'est bytes':>12} {'ctr bytes':>12} {'B diff':>8} {'B σ':>6}")
for r in acc["ports"]:
    if not r["name"].startswith(P):
        continue
    f = lambda v, fmt: (fmt % v) if v is not None else "-"
    p(f"{r['name']:14} {r['direction']:3} {r['status']:16} {r['windows']:3d} {r['samples']:7d} {r['estimate_packets']:10d} {r['counter_packets']:10d} "
      f"{f(r['packets_diff_ratio'] and 100*r['packets_diff_ratio'], '%+7.2f%%'):>8} {f(r['packets_diff_sigma'], '%+5.2f'):>6} "
      f"{r['estimate_bytes']:12d} {r['counter_bytes']:12d} {f(r['diff_ratio'] and 100*r['diff_ratio'], '%+7.2f%%'):>8} {f(r['diff_sigma'], '%+5.2f'):>6}"
      + (f"  ({r['reason']})" if r.get('reason') else ""))
for s in acc["sources"]:
    p(f"source {s['agent']}/{s['sub_agent']} {s['source_id_type']}:{s['source_id_index']}: received {s['samples_received']}, sent {s['samples_sent']}, "
      f"pool delta {s['sample_pool_delta']} (pool rate {s['pool_rate']:.3f}), drops {s['drops_delta']}")
open(f"{d}/summary.txt", "w").write("\n".join(lines) + "\n")
EOF
	for f in dpctl coverage; do
		diff <(grep -E 'lost|upcall|drop|sflow' "$d/${f}0.txt") <(grep -E 'lost|upcall|drop|sflow' "$d/${f}1.txt") | grep '^>' | head -20 >>"$d/summary.txt" || true
	done
}

if [[ -n ${CAPTURE:-} ]]; then
	ip netns exec "$HV" tcpdump -q -i lo -c "${CAPTURE_COUNT:-3000}" -w "$CAPTURE" udp dst port $SPORT 2>>"$OUT/log.txt" &
	echo $! >"$W/tcpdump.pid"
	sleep 1
fi
for s in $SCENARIOS; do
	log "scenario $s (${SECS}s)"
	scenario "$s" 2>&1 | tee -a "$OUT/log.txt"
done
log "results in $OUT"
