package udp

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/metrics"
)

var (
	socketLabels      = []string{"input", "address", "socket"}
	socketDatagrams   = metrics.Counter("flowlens_socket_datagrams_total", "Datagrams read from the socket.", socketLabels...)
	socketBytes       = metrics.Counter("flowlens_socket_received_bytes_total", "UDP payload bytes read from the socket.", socketLabels...)
	socketTruncated   = metrics.Counter("flowlens_socket_truncated_total", "Datagrams longer than max_datagram, dropped.", socketLabels...)
	socketKernelDrops = metrics.Counter("flowlens_socket_kernel_drops_total", "Datagrams the kernel dropped because the socket's receive buffer was full.", socketLabels...)
	socketDenied      = metrics.Counter("flowlens_socket_denied_total", "Datagrams dropped unread because their source is outside allowed_sources.", socketLabels...)
	socketRateLimited = metrics.Counter("flowlens_socket_rate_limited_total", "Datagrams dropped unread because their source sent more than max_datagrams_per_source.", socketLabels...)
	socketBuffer      = metrics.Gauge("flowlens_socket_receive_buffer_bytes", "Receive buffer the kernel granted the socket.", socketLabels...)
)

// Metrics reports the sockets of each listener, by input name (sflow,
// netflow), when scraped.
func Metrics(inputs map[string]*Listener) prometheus.Collector {
	return metrics.Collector{Descs: []metrics.Desc{socketDatagrams, socketBytes, socketTruncated, socketKernelDrops, socketDenied, socketRateLimited, socketBuffer}, Read: func(ch chan<- prometheus.Metric) {
		for input, l := range inputs {
			// A listen address has several sockets (SO_REUSEPORT): number
			// them within their address.
			index := map[string]int{}
			for _, st := range l.Stats() {
				n := index[st.Addr]
				index[st.Addr] = n + 1
				lv := []string{input, st.Addr, strconv.Itoa(n)}
				socketDatagrams.Emit(ch, float64(st.Datagrams), lv...)
				socketBytes.Emit(ch, float64(st.Bytes), lv...)
				socketTruncated.Emit(ch, float64(st.Truncated), lv...)
				socketKernelDrops.Emit(ch, float64(st.KernelDrops), lv...)
				socketDenied.Emit(ch, float64(st.Denied), lv...)
				socketRateLimited.Emit(ch, float64(st.RateLimited), lv...)
				socketBuffer.Emit(ch, float64(st.ReceiveBuffer), lv...)
			}
		}
	}}
}
