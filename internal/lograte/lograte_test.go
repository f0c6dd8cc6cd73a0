package lograte

import (
	"sync"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	var l Limiter
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	if ok, held := l.Allow(t0, time.Minute); !ok || held != 0 {
		t.Fatalf("first: %v %d", ok, held)
	}
	for i := 1; i <= 3; i++ {
		if ok, _ := l.Allow(t0.Add(time.Duration(i)*time.Second), time.Minute); ok {
			t.Fatalf("%d s after: allowed", i)
		}
	}
	if ok, held := l.Allow(t0.Add(time.Minute), time.Minute); !ok || held != 3 {
		t.Errorf("after the period: %v, held %d (want 3)", ok, held)
	}
	if l.Last() != t0.Add(time.Minute) {
		t.Errorf("last %v", l.Last())
	}
}

// Many goroutines at once: one message per period, none lost from the count.
func TestLimiterConcurrent(t *testing.T) {
	var l Limiter
	now := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := l.Allow(now, time.Hour); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok, held := l.Allow(now.Add(time.Hour), time.Hour); allowed != 1 || !ok || held != 49 {
		t.Errorf("allowed %d, then %v held %d", allowed, ok, held)
	}
}
