// Package replay sends captured flow-export datagrams to a collector over UDP
// at a chosen rate, for benchmarks and load tests.
//
// Flow exporters cannot be made to produce a precise, repeatable load on
// demand, but their captures can be played back: the same bytes, at a rate
// or with the capture's own timing, as often as needed. Because this is a
// load generator, it refuses by default to send anywhere but this machine's
// loopback addresses.
package replay

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/flowlens/flowlens/internal/input/pcapfile"
)

// Options says where, how fast and how long to replay.
type Options struct {
	// To is the destination. It must be a loopback address unless
	// AllowNonLoopback is set: a load test aimed elsewhere by mistake would
	// flood a real network.
	To               netip.AddrPort
	AllowNonLoopback bool

	// Rate is the total number of datagrams per second across all sockets;
	// 0 sends as fast as possible. Pacing follows an absolute schedule on the
	// monotonic clock, so sleeping late or a slow send is made up by the
	// next batch instead of lowering the rate.
	Rate float64

	// Loops is how many times the whole list is sent: 0 or 1 mean once, -1
	// means until ctx is done or Duration has passed.
	Loops int

	// Duration stops the replay after this long; 0 means no limit.
	Duration time.Duration

	// Sockets is the number of sending sockets, each in its own goroutine
	// (default 1). Datagrams are dealt out round-robin, so socket i sends
	// every Sockets-th datagram; with more than one socket a receiver sees
	// several source ports and may see datagrams slightly out of order.
	Sockets int

	// KeepTiming replays with the capture's inter-packet gaps, taken from
	// Times and divided by Speed (0 means 1; 2 is twice as fast). It cannot
	// be combined with Rate. Between loops the gap is the capture's mean
	// gap, so that looping does not produce a burst.
	KeepTiming bool
	Speed      float64
	// Times holds the capture time of each datagram, parallel to the
	// datagrams passed to Run; only KeepTiming needs it. Payloads fills it
	// from a capture.
	Times []time.Time

	// Rewrite, if set, is called before each send with the loop number
	// (from 0) and a private copy of the datagram, which it may change in
	// place; the original is never touched. Looping the same sFlow capture
	// otherwise repeats its sequence numbers, which a collector reports as
	// loss or restarts. With several Sockets, Rewrite is called from several
	// goroutines at once and must be safe for that.
	Rewrite func(loop int, d []byte)

	// SocketRewrite, if set, is called once per sending socket (with its
	// index, from 0) before sending starts, and returns that socket's
	// Rewrite, used instead of Rewrite. Each is called from its socket's
	// goroutine only, so it may keep unlocked state: a sender that makes
	// every socket an exporter of its own, with its own sequence
	// numbers, so that several sockets do not look like one reordered
	// stream.
	SocketRewrite func(socket int) func(loop int, d []byte)
}

// Stats reports what was done. Errors counts datagrams the kernel refused,
// most often ECONNREFUSED when nothing listens at the destination.
type Stats struct {
	Sent, Bytes, Errors uint64
	Elapsed             time.Duration
}

// Payloads splits captured datagrams into the payloads and times that Run and
// Options.Times take.
func Payloads(ds []pcapfile.Datagram) ([][]byte, []time.Time) {
	p := make([][]byte, len(ds))
	t := make([]time.Time, len(ds))
	for i, d := range ds {
		p[i], t[i] = d.Payload, d.Time
	}
	return p, t
}

const (
	maxBatch = 64 // datagrams sent per look at the clock
	// slack is how early a datagram may go out instead of sleeping for it:
	// shorter sleeps cost more in wake-up jitter than they gain.
	slack      = 50 * time.Microsecond
	maxSockets = 256
)

// Run replays datagrams to opt.To and returns what it sent. It returns when
// every loop is done, Duration has passed (both with a nil error), or ctx is
// done (with ctx.Err(), so a caller that stops a Loops: -1 replay by
// cancelling should expect context.Canceled). Errors that affect single
// datagrams, such as ECONNREFUSED, are counted and the replay goes on; any
// other send error stops it and is returned.
func Run(ctx context.Context, datagrams [][]byte, opt Options) (Stats, error) {
	if err := opt.check(len(datagrams)); err != nil {
		return Stats{}, err
	}
	sockets := max(opt.Sockets, 1)
	sockets = min(sockets, len(datagrams))

	s := newSchedule(datagrams, opt)

	conns := make([]*net.UDPConn, sockets)
	for i := range conns {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(opt.To))
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return Stats{}, fmt.Errorf("replay: %w", err)
		}
		_ = c.SetWriteBuffer(1 << 20) // fewer blocked writes at high rates; the kernel may cap it
		conns[i] = c
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if opt.Duration > 0 {
		runCtx, cancel = context.WithTimeout(runCtx, opt.Duration)
		defer cancel()
	}

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		total   Stats
		sendErr error
	)
	start := time.Now()
	for i, c := range conns {
		rewrite := opt.Rewrite
		if opt.SocketRewrite != nil {
			rewrite = opt.SocketRewrite(i)
		}
		wg.Go(func() {
			st, err := s.run(runCtx, c, i, sockets, start, rewrite)
			mu.Lock()
			defer mu.Unlock()
			total.Sent += st.Sent
			total.Bytes += st.Bytes
			total.Errors += st.Errors
			if err != nil && sendErr == nil {
				sendErr = err
				cancel() // stop the other sockets too
			}
		})
	}
	wg.Wait()
	total.Elapsed = time.Since(start)
	if sendErr != nil {
		return total, sendErr
	}
	return total, ctx.Err()
}

func (opt *Options) check(n int) error {
	switch {
	case n == 0:
		return errors.New("replay: no datagrams to send")
	case !opt.To.IsValid() || opt.To.Port() == 0:
		return fmt.Errorf("replay: destination %v needs an address and a port", opt.To)
	case !opt.To.Addr().Unmap().IsLoopback() && !opt.AllowNonLoopback:
		return fmt.Errorf("replay: refusing to send to %v: not a loopback address; load tests must stay on this machine (set AllowNonLoopback to override)", opt.To)
	case opt.Rate < 0 || math.IsNaN(opt.Rate) || math.IsInf(opt.Rate, 0):
		return fmt.Errorf("replay: bad rate %v", opt.Rate)
	case opt.Loops < -1:
		return fmt.Errorf("replay: bad loop count %d (-1 means forever)", opt.Loops)
	case opt.Duration < 0:
		return fmt.Errorf("replay: negative duration %v", opt.Duration)
	case opt.Sockets < 0 || opt.Sockets > maxSockets:
		return fmt.Errorf("replay: socket count %d not in 1..%d", opt.Sockets, maxSockets)
	case opt.KeepTiming && opt.Rate > 0:
		return errors.New("replay: KeepTiming and Rate exclude each other")
	case opt.KeepTiming && len(opt.Times) != n:
		return fmt.Errorf("replay: KeepTiming needs a time for each of the %d datagrams, got %d", n, len(opt.Times))
	case opt.Speed < 0 || math.IsNaN(opt.Speed) || math.IsInf(opt.Speed, 0):
		return fmt.Errorf("replay: bad speed %v", opt.Speed)
	}
	return nil
}

// schedule says when each send is due. Sends are numbered globally across
// loops (k = loop*n + i) so that every socket derives the same timeline.
type schedule struct {
	data   [][]byte
	total  int64 // sends in all; -1 without end
	period float64
	// KeepTiming: offset of each datagram in its loop, and the loop length.
	offsets  []time.Duration
	loopSpan time.Duration
	maxLen   int
}

func newSchedule(data [][]byte, opt Options) *schedule {
	n := len(data)
	s := &schedule{data: data, total: int64(n) * int64(max(opt.Loops, 1))}
	if opt.Loops == -1 {
		s.total = -1
	}
	for _, d := range data {
		s.maxLen = max(s.maxLen, len(d))
	}
	if opt.Rate > 0 {
		s.period = 1 / opt.Rate
	}
	if opt.KeepTiming {
		speed := opt.Speed
		if speed == 0 {
			speed = 1
		}
		// Offsets from the first datagram, never going back in time (a
		// capture can hold reordered or zero timestamps).
		s.offsets = make([]time.Duration, n)
		var t0 time.Time
		for i, t := range opt.Times {
			switch {
			case t0.IsZero():
				t0 = t
			case t.IsZero():
			default:
				s.offsets[i] = t.Sub(t0)
			}
			if i > 0 {
				s.offsets[i] = max(s.offsets[i], s.offsets[i-1])
			}
			s.offsets[i] = time.Duration(float64(s.offsets[i]) / speed)
		}
		span := s.offsets[n-1]
		s.loopSpan = span
		if n > 1 {
			s.loopSpan += span / time.Duration(n-1)
		}
	}
	return s
}

// due is when send k should leave, counted from the start.
func (s *schedule) due(k int64) time.Duration {
	switch {
	case s.offsets != nil:
		n := int64(len(s.data))
		return time.Duration(k/n)*s.loopSpan + s.offsets[k%n]
	case s.period > 0:
		return time.Duration(float64(k) * s.period * float64(time.Second))
	}
	return 0
}

// run sends every stride-th datagram starting at first, pacing against the
// shared start time. It reads the clock once per batch, not per datagram, and
// hands each batch to the sender in one go (one sendmmsg call where there is
// one).
func (s *schedule) run(ctx context.Context, c *net.UDPConn, first, stride int, start time.Time, rewrite func(int, []byte)) (Stats, error) {
	var (
		st    Stats
		n     = int64(len(s.data))
		bufs  = make([][]byte, 0, maxBatch)
		arena []byte // Rewrite's private copies, one slot per batch entry
		timer *time.Timer
		snd   = newSender(c)
		paced = s.offsets != nil || s.period > 0
		more  = func(k int64) bool { return s.total < 0 || k < s.total }
	)
	if rewrite != nil {
		arena = make([]byte, maxBatch*s.maxLen)
	}
	for k := int64(first); more(k); {
		if ctx.Err() != nil {
			return st, nil
		}
		var now time.Duration
		if paced {
			now = time.Since(start)
			if wait := s.due(k) - now; wait > slack {
				if timer == nil {
					timer = time.NewTimer(wait)
					defer timer.Stop()
				} else {
					timer.Reset(wait)
				}
				select {
				case <-ctx.Done():
					return st, nil
				case <-timer.C:
				}
				now = time.Since(start)
			}
		}
		// Take everything that is due by now, up to a batch.
		bufs = bufs[:0]
		for len(bufs) < maxBatch && more(k) && (!paced || s.due(k) <= now+slack) {
			d := s.data[k%n]
			if rewrite != nil {
				slot := arena[len(bufs)*s.maxLen:]
				d = slot[:copy(slot, d):s.maxLen]
				rewrite(int(k/n), d)
			}
			bufs = append(bufs, d)
			k += int64(stride)
		}
		if err := snd.send(bufs, &st); err != nil {
			return st, fmt.Errorf("replay: %w", err)
		}
	}
	return st, nil
}

// sender writes a batch of datagrams to a connected socket, counting each
// as sent or failed. It returns an error only when sending cannot go on.
type sender interface {
	send(bufs [][]byte, st *Stats) error
}

// writeSender is the portable sender: one write per datagram.
type writeSender struct{ c *net.UDPConn }

func (w writeSender) send(bufs [][]byte, st *Stats) error {
	for _, b := range bufs {
		if _, err := w.c.Write(b); err != nil {
			st.Errors++
			if !perDatagram(err) {
				return err
			}
			continue
		}
		st.Sent++
		st.Bytes += uint64(len(b))
	}
	return nil
}

// perDatagram tells errors that concern one datagram or a passing state, after
// which sending can go on, from those that mean the socket is unusable.
func perDatagram(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || // an earlier datagram met no listener
		errors.Is(err, syscall.EMSGSIZE) ||
		errors.Is(err, syscall.ENOBUFS) ||
		errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH)
}
