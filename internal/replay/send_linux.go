//go:build linux && (amd64 || arm64)

package replay

import (
	"net"
	"runtime"
	"syscall"
	"unsafe"
)

// useSendmmsg lets tests exercise the portable path on Linux too.
var useSendmmsg = true

// sendmmsg(2) sends a whole batch in one system call: on loopback that is
// about half again as many datagrams per second as one write each, which
// matters when the replay has to outrun the collector it is loading. The
// standard library's syscall package is frozen and lacks the call number on
// amd64, so it is spelled out here; such numbers never change.
func sysSendmmsg() uintptr {
	if runtime.GOARCH == "amd64" {
		return 307
	}
	return 269 // arm64
}

// mmsghdr is struct mmsghdr: a msghdr and the byte count the kernel fills
// in. Go pads the struct to 8 bytes as C does.
type mmsghdr struct {
	hdr syscall.Msghdr
	len uint32
}

type mmsgSender struct {
	rc   syscall.RawConn
	msgs []mmsghdr
	iovs []syscall.Iovec
}

func newSender(c *net.UDPConn) sender {
	if !useSendmmsg {
		return writeSender{c}
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return writeSender{c}
	}
	s := &mmsgSender{rc: rc, msgs: make([]mmsghdr, maxBatch), iovs: make([]syscall.Iovec, maxBatch)}
	for i := range s.msgs {
		s.msgs[i].hdr.Iov = &s.iovs[i]
		s.msgs[i].hdr.Iovlen = 1
	}
	return s
}

func (s *mmsgSender) send(bufs [][]byte, st *Stats) error {
	for i, b := range bufs {
		s.iovs[i].Base = nil
		if len(b) > 0 {
			s.iovs[i].Base = &b[0]
		}
		s.iovs[i].SetLen(len(b))
	}
	for i := 0; i < len(bufs); {
		var (
			sent  int
			errno syscall.Errno
		)
		err := s.rc.Write(func(fd uintptr) bool {
			r, _, e := syscall.Syscall6(sysSendmmsg(), fd, uintptr(unsafe.Pointer(&s.msgs[i])), uintptr(len(bufs)-i), 0, 0, 0)
			if e == syscall.EAGAIN {
				return false // socket buffer full: let the poller wait
			}
			sent, errno = int(r), e
			return true
		})
		if err != nil {
			return err
		}
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0 || sent <= 0:
			// The first datagram of the rest was refused: the kernel
			// reports an error only when nothing of the batch went out
			// (an error after that comes with the next call).
			st.Errors++
			i++
			if !perDatagram(errno) {
				return errno
			}
			continue
		}
		sent = min(sent, len(bufs)-i)
		for _, b := range bufs[i : i+sent] {
			st.Sent++
			st.Bytes += uint64(len(b))
		}
		i += sent
	}
	return nil
}
