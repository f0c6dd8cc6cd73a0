#!/bin/bash
# Regenerates the captures of testdata/exporters/ from real exporters of
# Debian: pmacct's pmacctd with its nfprobe plugin (NetFlow v5, v9 and
# IPFIX) and fprobe (NetFlow v5). Run as root on Debian 12 (docs/netflow.md,
# "Exporters tested"):
#
#   sudo test/exporters/capture.sh [OUTDIR]     # default testdata/exporters
#
# Two network namespaces joined by a veth pair carry a fixed set of
# conversations (ICMP, ICMPv6, UDP, TCP; documentation addresses, inside
# the namespaces only). Each exporter watches the veth end of the first
# namespace and exports to that namespace's loopback, where tcpdump
# writes the export traffic; the conversations themselves are captured on
# the veth too (traffic.pcap): the decode tests take what each exporter
# should report from it. Everything is removed on exit.
set -euo pipefail

out=${1:-$(cd "$(dirname "$0")/../.." && pwd)/testdata/exporters}
mkdir -p "$out"
A=flcap-a B=flcap-b
work=$(mktemp -d)
pids=()

need() { # command package
	command -v "$1" >/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends "$2"; }
}
need pmacctd pmacct
need fprobe fprobe
need tcpdump tcpdump
need ethtool ethtool
need python3 python3

# spawn NAME NS CMD...: runs CMD in NS in the background; its pid (ip netns
# exec may fork: the pid of the command itself) goes to $work/NAME.pid.
spawn() {
	local name=$1 ns=$2
	shift 2
	ip netns exec "$ns" sh -c 'echo $$ >"$0"; exec "$@"' "$work/$name.pid" "$@" &
	pids+=($!)
	for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$work/$name.pid" ] && break; sleep 0.1; done
}
stop() { # NAME...: SIGTERM, then wait for the process to be gone
	local name pid
	for name; do
		pid=$(cat "$work/$name.pid" 2>/dev/null) || continue
		kill "$pid" 2>/dev/null || continue
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	done
}

cleanup() {
	stop server pmacctd fprobe tcpdump-lo tcpdump-cap0
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del $A 2>/dev/null || true
	ip netns del $B 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
cleanup_ns() { ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true; }
cleanup_ns

inA() { ip netns exec $A "$@"; }
inB() { ip netns exec $B "$@"; }

ip netns add $A
ip netns add $B
ip link add cap0 netns $A type veth peer name cap1 netns $B
inA ip link set lo up
inB ip link set lo up
inA ip link set cap0 address 02:00:00:00:00:01
inB ip link set cap1 address 02:00:00:00:00:02
inA ip addr add 192.0.2.1/24 dev cap0
inB ip addr add 192.0.2.2/24 dev cap1
inA ip addr add 2001:db8::1/64 dev cap0 nodad
inB ip addr add 2001:db8::2/64 dev cap1 nodad
inA ip link set cap0 up
inB ip link set cap1 up
# No segmentation offloads: the exporters see the packets the wire has.
inA ethtool -K cap0 tso off gso off gro off >/dev/null 2>&1 || true
inB ethtool -K cap1 tso off gso off gro off >/dev/null 2>&1 || true
# Neighbours known in advance: no ARP/ND in the middle of the traffic.
inA ip neigh replace 192.0.2.2 lladdr 02:00:00:00:00:02 dev cap0 nud permanent
inB ip neigh replace 192.0.2.1 lladdr 02:00:00:00:00:01 dev cap1 nud permanent
inA ip -6 neigh replace 2001:db8::2 lladdr 02:00:00:00:00:02 dev cap0 nud permanent
inB ip -6 neigh replace 2001:db8::1 lladdr 02:00:00:00:00:01 dev cap1 nud permanent


# The export traffic on A's loopback, and the conversations on the veth.
spawn tcpdump-lo $A tcpdump -q -n -i lo -s 0 -U -w "$work/export.pcap" udp and '(port 2055 or port 2056 or port 4739 or port 9995)'
# The exporters and the traffic capture see the same packets: IPv4 and
# IPv6, without the link's own IPv6 multicast (router solicitations and MLD
# reports come at times of the kernel's choosing, before the exporters
# start and after they stop).
filter='(ip or ip6) and not ip6 multicast'
spawn tcpdump-cap0 $A tcpdump -q -n -i cap0 -s 128 -U -w "$work/traffic.pcap" "$filter"
sleep 1

# pmacctd: one daemon, three nfprobe plugins (v9 to :9995, IPFIX to :4739,
# v5 to :2056).
# pmacctd_ext_sampling_rate says the traffic it sees is sampled 1 in 10
# (as a mirror port would be) without dropping any: the counts stay
# exact and the rate is exported.
cat >"$work/pmacctd.conf" <<CONF
daemonize: false
pcap_interface: cap0
pcap_interface_wait: true
pcap_filter: $filter
pmacctd_ext_sampling_rate: 10
plugins: nfprobe[v9], nfprobe[ipfix], nfprobe[v5]
aggregate[v9]: src_host, dst_host, src_port, dst_port, proto, tos, tcpflags, src_mac, dst_mac, sampling_rate, in_iface, out_iface
aggregate[ipfix]: src_host, dst_host, src_port, dst_port, proto, tos, tcpflags, src_mac, dst_mac, sampling_rate, in_iface, out_iface
nfprobe_receiver[v9]: 127.0.0.1:9995
nfprobe_version[v9]: 9
nfprobe_engine[v9]: 7
nfprobe_receiver[ipfix]: 127.0.0.1:4739
nfprobe_version[ipfix]: 10
nfprobe_engine[ipfix]: 8
nfprobe_ifindex[v9]: 5
nfprobe_direction[v9]: in
nfprobe_ifindex[ipfix]: 6
nfprobe_direction[ipfix]: in
nfprobe_receiver[v5]: 127.0.0.1:2056
nfprobe_version[v5]: 5
nfprobe_engine[v5]: 3:4
nfprobe_ifindex[v5]: 7
nfprobe_direction[v5]: in
nfprobe_timeouts: tcp=2:tcp.rst=2:tcp.fin=2:udp=2:icmp=2:general=2:maxlife=30:expint=1
CONF
spawn pmacctd $A pmacctd -f "$work/pmacctd.conf"
# fprobe: NetFlow v5 to :2055, flows expired 1 s after their last packet.
spawn fprobe $A fprobe -l 2:0 -i cap0 -f "$filter" -d 1 -e 30 -s 1 127.0.0.1:2055
sleep 3

# The conversations.
cat >"$work/server.py" <<'PY'
import socket, threading
def tcp(family, addr, port):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(4)
    while True:
        c, _ = s.accept()
        while c.recv(65536):
            pass
        c.close()
def udp(family, addr, port):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        s.recvfrom(65536)
for f, a in ((socket.AF_INET, "192.0.2.2"), (socket.AF_INET6, "2001:db8::2")):
    threading.Thread(target=tcp, args=(f, a, 5002), daemon=True).start()
    threading.Thread(target=udp, args=(f, a, 5001), daemon=True).start()
threading.Event().wait()
PY
cat >"$work/client.py" <<'PY'
import socket, time
for f, src, dst, n in ((socket.AF_INET, "192.0.2.1", "192.0.2.2", 5), (socket.AF_INET6, "2001:db8::1", "2001:db8::2", 3)):
    u = socket.socket(f, socket.SOCK_DGRAM)
    if f == socket.AF_INET:  # DSCP AF11 (TOS 0x28) on the UDP flows
        u.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x28)
    else:
        u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0x28)
    u.bind((src, 40001))
    for i in range(n):
        u.sendto(bytes(100 + i), (dst, 5001))
        time.sleep(0.05)
    u.close()
    t = socket.socket(f, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((src, 40002))
    t.connect((dst, 5002))
    t.sendall(bytes(10000))
    time.sleep(0.2)
    t.close()
    time.sleep(0.3)
PY
spawn server $B python3 "$work/server.py"
sleep 1
inA ping -q -c 3 -i 0.2 192.0.2.2 >/dev/null
inA ping -q -6 -c 2 -i 0.2 2001:db8::2 >/dev/null
inA python3 "$work/client.py"
# Let the exporters' idle timers (1 s fprobe, 2 s pmacct) export every
# flow, then stop them, and the captures last.
sleep 6
stop server pmacctd fprobe
sleep 1
stop tcpdump-lo tcpdump-cap0
wait 2>/dev/null || true
pids=()

# Split the export capture per exporter.
tcpdump -r "$work/export.pcap" -w "$out/fprobe-netflow-v5.pcap" udp port 2055 2>/dev/null
tcpdump -r "$work/export.pcap" -w "$out/pmacct-netflow-v9.pcap" udp port 9995 2>/dev/null
tcpdump -r "$work/export.pcap" -w "$out/pmacct-ipfix.pcap" udp port 4739 2>/dev/null
tcpdump -r "$work/export.pcap" -w "$out/pmacct-netflow-v5.pcap" udp port 2056 2>/dev/null
cp "$work/traffic.pcap" "$out/traffic.pcap"
for f in traffic fprobe-netflow-v5 pmacct-netflow-v5 pmacct-netflow-v9 pmacct-ipfix; do
	printf '%-20s %s packets\n' "$f" "$(tcpdump -r "$out/$f.pcap" 2>/dev/null | wc -l)"
done
