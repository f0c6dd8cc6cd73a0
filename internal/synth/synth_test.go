package synth

import (
	"reflect"
	"testing"
	"time"
)

func TestDeterministic(t *testing.T) {
	a, b := New(DefaultConfig()), New(DefaultConfig())
	at := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	fa, fb := a.Flows(at), b.Flows(at)
	if !reflect.DeepEqual(fa, fb) {
		t.Fatal("same seed, same interval: different records")
	}
	if !reflect.DeepEqual(a.Counters(at), b.Counters(at)) {
		t.Fatal("same seed: different counters")
	}
	cfg := DefaultConfig()
	cfg.Seed = 2
	if reflect.DeepEqual(New(cfg).Flows(at), fa) {
		t.Fatal("another seed gave the same records")
	}
}
