package flow

import (
	"net/netip"
	"time"
)

// Unknown32 is what agents send for a 32-bit counter they do not keep
// (Open vSwitch does this for most Ethernet counters). Outputs omit it
// rather than graph a bogus 4294967295.
const Unknown32 = ^uint32(0)

// Unknown64 is the 64-bit form of Unknown32.
const Unknown64 = ^uint64(0)

// Counter is one counter sample: the counters an agent reported for one
// source (a port, a VLAN, a bridge) at one moment. Blocks the sample did not
// carry have their Has flag false.
type Counter struct {
	Time         time.Time
	Agent        netip.Addr
	SubAgent     uint32
	Sequence     uint32 // datagram sequence number
	SampleSeq    uint32
	SourceIDType uint8
	SourceIndex  uint32

	HasInterface bool
	Interface    InterfaceCounters
	HasEthernet  bool
	Ethernet     EthernetCounters
	HasVLAN      bool
	VLAN         VLANCounters
	HasProcessor bool
	Processor    ProcessorCounters

	// Open vSwitch.
	HasOFPort       bool
	DatapathID      uint64
	OFPort          uint32
	HasPortName     bool
	PortName        string
	HasDatapath     bool
	Datapath        DatapathCounters
	HasAppResources bool
	AppResources    AppResources

	HasHost  bool
	HostName string

	// Host structures (sFlow host MIB, records 2003-2006): hsflowd and
	// other host agents send them; Open vSwitch does not.
	HasHostCPU    bool
	HostCPU       HostCPU
	HasHostMemory bool
	HostMemory    HostMemory
	HasHostDisk   bool
	HostDisk      HostDisk
	HasHostNet    bool
	HostNet       HostNet
}

// HostCPU is sFlow's host_cpu block (2003). Times are cumulative
// milliseconds; loads are the usual load averages, negative when unknown.
type HostCPU struct {
	Load1, Load5, Load15                             float32
	ProcRun, ProcTotal, CPUs, SpeedMHz, UptimeSec    uint32
	User, Nice, System, Idle, IOWait, Intr, SoftIntr uint32
	Interrupts, Contexts                             uint32
}

// HostMemory is sFlow's host_memory block (2004), in bytes and pages.
type HostMemory struct {
	Total, Free, Shared, Buffers, Cached, SwapTotal, SwapFree uint64
	PageIn, PageOut, SwapIn, SwapOut                          uint32
}

// HostDisk is sFlow's host_disk_io block (2005).
type HostDisk struct {
	Total, Free uint64
	// PartMaxUsed is the fullest partition's use in hundredths of a
	// percent, -1 when unknown.
	PartMaxUsed         int32
	Reads, ReadTimeMs   uint32
	BytesRead           uint64
	Writes, WriteTimeMs uint32
	BytesWritten        uint64
}

// HostNet is sFlow's host_net_io block (2006): the host's interfaces
// together.
type HostNet struct {
	BytesIn                    uint64
	PktsIn, ErrsIn, DropsIn    uint32
	BytesOut                   uint64
	PktsOut, ErrsOut, DropsOut uint32
}

// InterfaceCounters is sFlow's generic interface counter block (RFC 2863).
type InterfaceCounters struct {
	Index        uint32
	Type         uint32
	Speed        uint64
	Direction    uint32 // 0 unknown, 1 full duplex, 2 half, 3 in, 4 out
	Status       uint32 // bit 0 admin up, bit 1 oper up
	InOctets     uint64
	InUcast      uint32
	InMulticast  uint32
	InBroadcast  uint32
	InDiscards   uint32
	InErrors     uint32
	InUnknown    uint32
	OutOctets    uint64
	OutUcast     uint32
	OutMulticast uint32
	OutBroadcast uint32
	OutDiscards  uint32
	OutErrors    uint32
	Promiscuous  uint32
}

// EthernetCounters is the dot3 statistics block.
type EthernetCounters struct {
	AlignmentErrors, FCSErrors, SingleCollisionFrames, MultipleCollisionFrames uint32
	SQETestErrors, DeferredTransmissions, LateCollisions, ExcessiveCollisions  uint32
	InternalMacTransmitErrors, CarrierSenseErrors, FrameTooLongs               uint32
	InternalMacReceiveErrors, SymbolErrors                                     uint32
}

// VLANCounters is the per-VLAN block.
type VLANCounters struct {
	ID                                    uint32
	Octets                                uint64
	Ucast, Multicast, Broadcast, Discards uint32
}

// ProcessorCounters is the agent's CPU and memory block.
type ProcessorCounters struct {
	CPU5s, CPU1m, CPU5m     uint32 // percent x 100
	TotalMemory, FreeMemory uint64
}

// DatapathCounters is Open vSwitch's datapath block (sFlow 2207).
type DatapathCounters struct {
	Hits, Misses, Lost, MaskHits, Flows, Masks uint32
}

// AppResources is sFlow's application resources block (2203), which Open
// vSwitch sends for ovs-vswitchd itself.
type AppResources struct {
	UserTimeMs, SystemTimeMs uint32
	MemUsed, MemMax          uint64
	FDOpen, FDMax            uint32
	ConnOpen, ConnMax        uint32
}
