// Package lograte keeps a repeated message from flooding the log: a bad
// datagram, a full queue or an unreachable database is said at most once
// per period, with how many times it was held back meanwhile.
package lograte

import (
	"sync"
	"time"
)

// Limiter allows a message at most once every period. The zero value is
// ready; it is safe for concurrent use.
type Limiter struct {
	mu   sync.Mutex
	last time.Time
	held uint64
}

// Allow reports whether the message may be logged at now (the first one
// always may), and how many were held back since the last one allowed.
func (l *Limiter) Allow(now time.Time, every time.Duration) (ok bool, held uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < every {
		l.held++
		return false, 0
	}
	held, l.last, l.held = l.held, now, 0
	return true, held
}

// Last is when a message was last allowed (zero: never).
func (l *Limiter) Last() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}
