// Command countonly is the baseline receiver of the ingest benchmark: it
// binds one UDP socket, asks for a large receive buffer, and only counts the
// datagrams it reads, in a plain ReadFromUDPAddrPort loop. Whatever rate it
// keeps up with is what this machine's loopback and kernel can deliver to
// one socket and one reading goroutine; a collector cannot beat it.
//
// On SIGTERM or SIGINT it prints one JSON line to stdout:
//
//	{"datagrams":N,"bytes":N,"kernel_drops":N,"receive_buffer":N}
//
// kernel_drops is the socket's drop counter from /proc/net/udp (datagrams
// that arrived while the receive buffer was full).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "UDP address to bind (port 0: any; the bound address is printed on stderr)")
	rcvbuf := flag.Int("rcvbuf", 32<<20, "receive buffer to ask for, bytes (SO_RCVBUFFORCE, falling back to SO_RCVBUF)")
	flag.Parse()

	addr, err := net.ResolveUDPAddr("udp", *listen)
	if err != nil {
		fatal(err)
	}
	c, err := net.ListenUDP("udp", addr)
	if err != nil {
		fatal(err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		fatal(err)
	}
	var granted int
	var inode uint64
	_ = raw.Control(func(fd uintptr) {
		if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, *rcvbuf) != nil {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, *rcvbuf)
		}
		if v, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF); err == nil {
			granted = v / 2 // the kernel reports twice the usable size
		}
		var st syscall.Stat_t
		if syscall.Fstat(int(fd), &st) == nil {
			inode = st.Ino
		}
	})
	fmt.Fprintf(os.Stderr, "countonly listening on %s receive_buffer=%d\n", c.LocalAddr(), granted)

	var datagrams, bytes atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, _, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed
			}
			datagrams.Add(1)
			bytes.Add(uint64(n))
		}
	}()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	drops := kernelDrops(inode) // before closing: the socket leaves /proc/net/udp
	c.Close()
	<-done
	out, _ := json.Marshal(map[string]uint64{
		"datagrams": datagrams.Load(), "bytes": bytes.Load(),
		"kernel_drops": drops, "receive_buffer": uint64(granted),
	})
	fmt.Println(string(out))
}

// kernelDrops returns the drop counter (last column) of the socket with
// this inode in /proc/net/udp and /proc/net/udp6.
func kernelDrops(inode uint64) uint64 {
	for _, p := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 13 || fs[9] != strconv.FormatUint(inode, 10) {
				continue
			}
			d, _ := strconv.ParseUint(fs[len(fs)-1], 10, 64)
			f.Close()
			return d
		}
		f.Close()
	}
	return 0
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "countonly:", err)
	os.Exit(1)
}
