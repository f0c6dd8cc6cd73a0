package flow

import "strconv"

// Datasets name the record kinds in event.dataset.
const (
	DatasetFlow     = "flowlens.flow"
	DatasetCounters = "flowlens.counters"
)

// transportNames is indexed by IP protocol: ECS network.transport values,
// IANA keywords in lower case, else the number.
var transportNames [256]string

func init() {
	for i := range transportNames {
		transportNames[i] = strconv.Itoa(i)
	}
	for p, n := range map[uint8]string{
		1: "icmp", 2: "igmp", 4: "ipip", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre",
		50: "esp", 51: "ah", 58: "ipv6-icmp", 89: "ospf", 103: "pim", 112: "vrrp", 132: "sctp",
	} {
		transportNames[p] = n
	}
}

// Transport returns the ECS network.transport name of an IP protocol.
func Transport(proto uint8) string { return transportNames[proto] }

// NetworkType returns the ECS network.type of an EtherType.
func NetworkType(et uint16) string {
	switch et {
	case 0x0800:
		return "ipv4"
	case 0x86dd:
		return "ipv6"
	case 0x0806:
		return "arp"
	case 0x8847, 0x8848:
		return "mpls"
	case 0:
		return ""
	}
	const hex = "0123456789abcdef"
	return string([]byte{'0', 'x', hex[et>>12], hex[et>>8&0xf], hex[et>>4&0xf], hex[et&0xf]})
}
