package udp

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// kernelDrops reads the per-socket drop counters the kernel keeps in
// /proc/net/udp and /proc/net/udp6 (last column), keyed by socket inode.
// Those are the datagrams that arrived while the receive buffer was full.
func kernelDrops() map[uint64]uint64 {
	out := make(map[uint64]uint64)
	for _, p := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 13 {
				continue
			}
			inode, err1 := strconv.ParseUint(fields[9], 10, 64)
			drops, err2 := strconv.ParseUint(fields[len(fields)-1], 10, 64)
			if err1 == nil && err2 == nil {
				out[inode] += drops
			}
		}
		f.Close()
	}
	return out
}
