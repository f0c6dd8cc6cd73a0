package netflow

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// NetFlow v5 (Cisco): a 24-byte header and count 48-byte records.
const (
	v5HeaderLen = 24
	v5RecordLen = 48
)

func (d *Decoder) decodeV5(b []byte, addr netip.Addr, now time.Time, res *Result) error {
	if len(b) < v5HeaderLen {
		return Error{ReasonTruncated}
	}
	count := int(binary.BigEndian.Uint16(b[2:]))
	uptime := binary.BigEndian.Uint32(b[4:])
	secs := binary.BigEndian.Uint32(b[8:])
	nsecs := binary.BigEndian.Uint32(b[12:])
	seq := binary.BigEndian.Uint32(b[16:])
	engineType, engineID := b[20], b[21]
	sampling := binary.BigEndian.Uint16(b[22:])

	res.Version = 5
	res.Sequence = seq
	res.SysUptime = uptime
	// time.Unix carries a residual nanoseconds field of a second or more
	// into the seconds, as nfdump and fluent-plugin-netflow do.
	export := time.Unix(int64(secs), int64(nsecs))
	res.ExportTime = export
	res.HeaderOK = true
	if len(b) < v5HeaderLen+count*v5RecordLen {
		return Error{ReasonTruncated}
	}
	// The top two bits of sampling_interval are the mode, the low 14 the
	// interval. sflowtool (-c) leaves the field 0 and scales the counts
	// itself; with -S it writes rate&0x4000, i.e. mode 1 and interval 0,
	// which therefore means "rate unknown" as well.
	rate := uint32(sampling & 0x3fff)
	if rate == 0 {
		rate = d.configuredRate(addr)
	}
	exportMs := export.UnixMilli()
	for i := 0; i < count; i++ {
		if len(res.Flows) >= MaxRecordsPerDatagram {
			res.Errors[ReasonTooManyRecords]++
			break
		}
		p := b[v5HeaderLen+i*v5RecordLen : v5HeaderLen+(i+1)*v5RecordLen]
		res.Flows = append(res.Flows, flow.Record{})
		r := &res.Flows[len(res.Flows)-1]
		r.Time = now
		r.Input = flow.InputNetFlowV5
		r.Agent = addr
		r.Sequence = seq
		r.EngineType, r.EngineID, r.HasEngine = engineType, engineID, true
		r.SysUptime, r.V5Count, r.V5Sampling = uptime, uint16(count), sampling
		r.SrcAddr = netip.AddrFrom4([4]byte(p[0:4]))
		r.DstAddr = netip.AddrFrom4([4]byte(p[4:8]))
		if nh := netip.AddrFrom4([4]byte(p[8:12])); !nh.IsUnspecified() {
			r.NextHop = nh
		}
		r.In = port(uint32(binary.BigEndian.Uint16(p[12:])))
		r.Out = port(uint32(binary.BigEndian.Uint16(p[14:])))
		pkts := uint64(binary.BigEndian.Uint32(p[16:]))
		octets := uint64(binary.BigEndian.Uint32(p[20:]))
		first := binary.BigEndian.Uint32(p[24:])
		last := binary.BigEndian.Uint32(p[28:])
		sport := binary.BigEndian.Uint16(p[32:])
		dport := binary.BigEndian.Uint16(p[34:])
		flags := p[37]
		r.Proto, r.HasProto = p[38], true
		r.TOS = p[39]
		r.SrcAS = uint32(binary.BigEndian.Uint16(p[40:]))
		r.DstAS = uint32(binary.BigEndian.Uint16(p[42:]))
		r.SrcMask, r.DstMask = p[44], p[45]
		r.EtherType = 0x0800 // v5 carries IPv4 only

		switch r.Proto {
		case protoICMP, protoICMPv6:
			// Two conventions for ICMP type and code: Cisco's (Open
			// vSwitch, pmacct too) is type·256+code in the destination
			// port, 2048 for an echo request; fprobe and sflowtool -c
			// put the type in the source port and the code in the
			// destination port (8 and 0). Cisco's leaves the source
			// port 0.
			if sport != 0 && sport < 256 && dport < 256 {
				r.ICMPType, r.ICMPCode, r.HasICMP = uint8(sport), uint8(dport), true
				r.V5ICMPInSrcPort = true
			} else {
				r.ICMPType, r.ICMPCode, r.HasICMP = uint8(dport>>8), uint8(dport), true
			}
			r.Parsed = flow.LayerL4
		case protoTCP, protoUDP, protoSCTP:
			r.SrcPort, r.DstPort, r.HasPorts = sport, dport, true
			if r.Proto == protoTCP {
				r.TCPFlags = uint16(flags)
			}
			r.Parsed = flow.LayerL4
		default:
			r.Parsed = flow.LayerL3
		}
		// First and Last are sysUptime (ms) when the flow's first and
		// last packets were seen; the header pairs sysUptime with the
		// wall clock. int32 differences survive the 49.7-day wrap.
		r.Start = time.UnixMilli(exportMs - int64(int32(uptime-first)))
		r.End = time.UnixMilli(exportMs - int64(int32(uptime-last)))
		r.SamplingRate = rate
		r.Packets = scale(pkts, rate)
		r.Bytes = scale(octets, rate)
	}
	return nil
}

// IP protocol numbers the decoder treats specially.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoSCTP   = 132
	protoICMPv6 = 58
)
