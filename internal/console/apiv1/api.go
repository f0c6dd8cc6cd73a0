// Package apiv1 holds the JSON types of the console's HTTP API (docs/api.md):
// what GET /api/v1/timeseries, /top, /matrix, /geo, /ports and /blocked
// answer. The store fills them; the console serves them.
package apiv1

import (
	"math"
	"strconv"
	"time"
)

// Dimension is one of GET /api/v1/dimensions's dimensions.
type Dimension struct {
	Name  string `json:"name"`
	Label string `json:"label"`
}

// EitherSide is a filter-only dimension matching either of two.
type EitherSide struct {
	Name  string    `json:"name"`
	Label string    `json:"label"`
	Of    [2]string `json:"of"`
}

// Dimensions is what GET /api/v1/dimensions answers.
type Dimensions struct {
	Dimensions []Dimension  `json:"dimensions"`
	EitherSide []EitherSide `json:"either_side"`
}

// Values is a series in which NaN means "no value" (null in JSON).
type Values []float64

// Series is one line of a time series.
type Series struct {
	Key string `json:"key"`
	// Values are null (NaN) for steps in which flowlens was not
	// collecting: a gap, not a zero.
	Values Values `json:"values"`
}

// Timeseries is the answer to a TimeseriesRequest.
type Timeseries struct {
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Step       int64     `json:"step"`
	Metric     string    `json:"metric"`
	By         string    `json:"by"`
	Timestamps []int64   `json:"timestamps"`
	Series     []Series  `json:"series"`
	// Observations: "first" (each packet once) or "all".
	Observations string `json:"observations"`
	// Notes say what the answer cannot show (filters on folded ports).
	Notes []string `json:"notes,omitempty"`
}

// Totals are summed bytes and packets.
type Totals struct {
	Bytes   int64 `json:"bytes"`
	Packets int64 `json:"packets"`
}

// TopRow is one key of a Top answer. Key values are strings, numbers
// included ("" when the record had none).
type TopRow struct {
	Key     map[string]string `json:"key"`
	Bytes   int64             `json:"bytes"`
	Packets int64             `json:"packets"`
	Bps     float64           `json:"bps"`
	Pps     float64           `json:"pps"`
}

// Top is the answer to a TopRequest.
type Top struct {
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	By    []string  `json:"by"`
	Rows  []TopRow  `json:"rows"`
	Other Totals    `json:"other"`
	// Total is the whole range's, whatever the limit: shares are of it.
	Total        Totals   `json:"total"`
	Observations string   `json:"observations"`
	Notes        []string `json:"notes,omitempty"`
}

// Node is one end in a Matrix.
type Node struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	// Kind and Value (mixed and country levels): what the node is — vm,
	// country, ip, or cloud (the cloud's ends without a country) — and
	// the value to filter on (kind vm: the vm dimension, …).
	Kind  string `json:"kind,omitempty"`
	Value string `json:"value,omitempty"`
}

// Link is the traffic from Source to Target.
type Link struct {
	Source  string `json:"source"`
	Target  string `json:"target"`
	Bytes   int64  `json:"bytes"`
	Packets int64  `json:"packets"`
}

// Matrix is the answer to a MatrixRequest.
type Matrix struct {
	Level        string   `json:"level"`
	Nodes        []Node   `json:"nodes"`
	Links        []Link   `json:"links"`
	Observations string   `json:"observations"`
	Notes        []string `json:"notes,omitempty"`
}

// GeoPoint is one external address with a location.
type GeoPoint struct {
	IP        string  `json:"ip"`
	Lat       float64 `json:"lat"`
	Lon       float64 `json:"lon"`
	Country   string  `json:"country"`
	City      string  `json:"city"`
	ASN       int64   `json:"asn"`
	ASOrg     string  `json:"as_org"`
	Bytes     int64   `json:"bytes"`
	Packets   int64   `json:"packets"`
	Direction string  `json:"direction"` // inbound: from the address; outbound: to it
}

// PortSeries is one port's rates, from consecutive counter samples.
type PortSeries struct {
	Agent          string  `json:"agent"`
	SubAgent       int64   `json:"sub_agent"`
	Index          int64   `json:"index"`
	Name           string  `json:"name"`
	Speed          int64   `json:"speed"`
	Timestamps     []int64 `json:"timestamps"`
	InBps          Values  `json:"in_bps"`
	OutBps         Values  `json:"out_bps"`
	InPps          Values  `json:"in_pps"`
	OutPps         Values  `json:"out_pps"`
	InErrors       Values  `json:"in_errors"`
	OutErrors      Values  `json:"out_errors"`
	InDiscards     Values  `json:"in_discards"`
	OutDiscards    Values  `json:"out_discards"`
	InUtilisation  Values  `json:"in_utilisation"`
	OutUtilisation Values  `json:"out_utilisation"`
}

// BlockedRow is one cause, protected port and connection: who sent what
// to whom, and how often it was dropped.
type BlockedRow struct {
	Source string `json:"source"`
	// The side the drop protected: the receiver for to-lport (ingress
	// rules), the sender for from-lport (egress rules).
	VM             string   `json:"vm"`
	Port           string   `json:"port"`
	Project        string   `json:"project"`
	SecurityGroups []string `json:"security_groups"`
	Rule           string   `json:"rule,omitempty"`
	Default        bool     `json:"default"`
	Direction      string   `json:"direction,omitempty"`
	ACL            string   `json:"acl,omitempty"`
	LogicalFlow    string   `json:"logical_flow,omitempty"`
	Stage          string   `json:"stage,omitempty"`
	Reason         string   `json:"reason,omitempty"`

	SrcIP      string `json:"src_ip"`
	SrcVM      string `json:"src_vm"`
	SrcProject string `json:"src_project"`
	DstIP      string `json:"dst_ip"`
	DstVM      string `json:"dst_vm"`
	DstProject string `json:"dst_project"`
	Proto      string `json:"proto"`
	// DstPort is a string: "ephemeral" where rolled-up rows folded it.
	DstPort string `json:"dst_port"`

	Packets   int64     `json:"count"`
	Bytes     int64     `json:"bytes"`
	Samples   int64     `json:"samples"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Blocked is the answer to a BlockedRequest.
type Blocked struct {
	From time.Time    `json:"from"`
	To   time.Time    `json:"to"`
	Rows []BlockedRow `json:"rows"`
	// Total dropped packets in the range, whatever the limit.
	Total int64    `json:"total"`
	Notes []string `json:"notes,omitempty"`
}

// MarshalJSON writes NaN as null.
func (v Values) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 8*len(v)+2)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendFloat(b, x, 'g', -1, 64)
		}
	}
	return append(b, ']'), nil
}
