package pcapfile

import (
	"encoding/binary"
	"net/netip"
)

type skipReason int

const (
	skipNone skipReason = iota
	skipNotUDP
	skipFragment
	skipLink
	skipTruncated
	skipMalformed
)

const (
	etherIPv4  = 0x0800
	etherIPv6  = 0x86dd
	etherVLAN  = 0x8100
	etherQinQ  = 0x88a8
	etherQinQ2 = 0x9100 // pre-standard QinQ, still seen
	protoUDP   = 17
	maxVLANs   = 8  // more stacked tags than any real network uses
	maxExtHdrs = 16 // bound the IPv6 extension-header walk
)

// parseLink strips the link-layer header of pkt and hands the rest to the IP
// parser. The returned Datagram's payload aliases pkt.
func parseLink(link uint16, pkt []byte) (Datagram, skipReason) {
	switch link {
	case linkEthernet:
		if len(pkt) < 14 {
			return Datagram{}, skipTruncated
		}
		return parseEther(binary.BigEndian.Uint16(pkt[12:]), pkt[14:])
	case linkNull, linkLoop, linkLoopOBSD, linkRawOBSD:
		// 12 and 14 mean raw IP on some systems and a 4-byte address-family
		// header on others. An address family never starts with 0x4_ or
		// 0x6_ (they are small numbers, in either byte order), so the first
		// nibble tells which one this file holds.
		if (link == linkLoopOBSD || link == linkRawOBSD) && len(pkt) > 0 {
			if v := pkt[0] >> 4; v == 4 || v == 6 {
				return parseIP(pkt)
			}
		}
		if len(pkt) < 4 {
			return Datagram{}, skipTruncated
		}
		// DLT_NULL writes the family in the capturing host's byte order,
		// DLT_LOOP in network order; accept either.
		af := binary.LittleEndian.Uint32(pkt)
		if af > 0xffff {
			af = binary.BigEndian.Uint32(pkt)
		}
		switch af {
		case 2, 24, 28, 30: // AF_INET; AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
			return parseIP(pkt[4:])
		}
		return Datagram{}, skipNotUDP
	case linkRaw:
		return parseIP(pkt)
	case linkIPv4:
		return parseIPv4(pkt)
	case linkIPv6:
		return parseIPv6(pkt)
	case linkSLL:
		if len(pkt) < 16 {
			return Datagram{}, skipTruncated
		}
		return parseEther(binary.BigEndian.Uint16(pkt[14:]), pkt[16:])
	case linkSLL2:
		if len(pkt) < 20 {
			return Datagram{}, skipTruncated
		}
		return parseEther(binary.BigEndian.Uint16(pkt), pkt[20:])
	}
	return Datagram{}, skipLink
}

// parseEther dispatches on an EtherType, unwrapping 802.1Q and QinQ tags.
// Linux cooked captures use the same EtherType values, so they come here too.
func parseEther(et uint16, b []byte) (Datagram, skipReason) {
	for range maxVLANs {
		if et != etherVLAN && et != etherQinQ && et != etherQinQ2 {
			break
		}
		if len(b) < 4 {
			return Datagram{}, skipTruncated
		}
		et = binary.BigEndian.Uint16(b[2:])
		b = b[4:]
	}
	switch et {
	case etherIPv4:
		return parseIPv4(b)
	case etherIPv6:
		return parseIPv6(b)
	}
	return Datagram{}, skipNotUDP
}

func parseIP(b []byte) (Datagram, skipReason) {
	if len(b) < 1 {
		return Datagram{}, skipTruncated
	}
	switch b[0] >> 4 {
	case 4:
		return parseIPv4(b)
	case 6:
		return parseIPv6(b)
	}
	return Datagram{}, skipNotUDP
}

func parseIPv4(b []byte) (Datagram, skipReason) {
	if len(b) < 20 {
		return Datagram{}, skipTruncated
	}
	if b[0]>>4 != 4 {
		return Datagram{}, skipMalformed
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if total == 0 {
		// Segmentation offload hands the capture an oversized packet whose
		// length field is left at zero: the capture is all there is.
		total = len(b)
	}
	if ihl < 20 || total < ihl {
		return Datagram{}, skipMalformed
	}
	if frag := binary.BigEndian.Uint16(b[6:]); frag&0x3fff != 0 { // MF or offset
		return Datagram{}, skipFragment
	}
	if b[9] != protoUDP {
		return Datagram{}, skipNotUDP
	}
	if total > len(b) {
		return Datagram{}, skipTruncated
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	return parseUDP(src, dst, b[ihl:total])
}

func parseIPv6(b []byte) (Datagram, skipReason) {
	if len(b) < 40 {
		return Datagram{}, skipTruncated
	}
	if b[0]>>4 != 6 {
		return Datagram{}, skipMalformed
	}
	plen := int(binary.BigEndian.Uint16(b[4:]))
	next := b[6]
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	rest := b[40:]
	if plen == 0 {
		// Jumbogram (or offload): the payload runs to the end of the capture.
		plen = len(rest)
	}
	truncated := plen > len(rest)
	if !truncated {
		rest = rest[:plen]
	}
	for range maxExtHdrs {
		switch next {
		case protoUDP:
			if truncated {
				return Datagram{}, skipTruncated
			}
			return parseUDP(src, dst, rest)
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(rest) < 8 {
				return Datagram{}, skipTruncated
			}
			n := (int(rest[1]) + 1) * 8
			if n > len(rest) {
				return Datagram{}, skipTruncated
			}
			next, rest = rest[0], rest[n:]
		case 51: // authentication header: length in 4-octet units, minus 2
			if len(rest) < 8 {
				return Datagram{}, skipTruncated
			}
			n := (int(rest[1]) + 2) * 4
			if n > len(rest) {
				return Datagram{}, skipTruncated
			}
			next, rest = rest[0], rest[n:]
		case 44: // fragment
			if len(rest) < 8 {
				return Datagram{}, skipTruncated
			}
			// An "atomic fragment" (offset 0, no more fragments) holds the
			// whole datagram; anything else needs reassembly.
			if binary.BigEndian.Uint16(rest[2:])&0xfff9 != 0 {
				return Datagram{}, skipFragment
			}
			next, rest = rest[0], rest[8:]
		default: // ESP, no next header, TCP, ICMPv6, …
			return Datagram{}, skipNotUDP
		}
	}
	return Datagram{}, skipMalformed
}

// parseUDP does not verify the checksum: captures are usually taken on the
// exporting or collecting host, where checksum offload leaves the field
// unfinished (the OVS captures on loopback all hold just the pseudo-header
// sum), so checking it would throw away good datagrams.
func parseUDP(src, dst netip.Addr, b []byte) (Datagram, skipReason) {
	if len(b) < 8 {
		return Datagram{}, skipTruncated
	}
	n := int(binary.BigEndian.Uint16(b[4:]))
	switch {
	case n == 0 && len(b) > 0xffff:
		n = len(b) // IPv6 jumbogram: the UDP length is zero by design
	case n < 8:
		return Datagram{}, skipMalformed
	case n > len(b):
		return Datagram{}, skipTruncated
	}
	return Datagram{
		Src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:])),
		Dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:])),
		Payload: b[8:n:n],
	}, skipNone
}
