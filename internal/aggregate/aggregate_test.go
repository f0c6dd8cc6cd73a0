package aggregate

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
	"github.com/flowlens/flowlens/internal/pipeline"
)

type sink struct {
	flows    []flow.Record
	counters int
	closed   bool
}

func (s *sink) Name() string { return "sink" }
func (s *sink) Write(b *pipeline.Batch) error {
	s.flows = append(s.flows, b.Flows...)
	s.counters += len(b.Counters)
	return nil
}
func (s *sink) Close() error { s.closed = true; return nil }

func rec(src, dst string, sport uint16, bytes uint64, flags uint16) flow.Record {
	return flow.Record{Agent: netip.MustParseAddr("127.0.0.1"), Packet: flow.Packet{SrcAddr: netip.MustParseAddr(src),
		DstAddr: netip.MustParseAddr(dst), Proto: 6, HasProto: true, SrcPort: sport, DstPort: 80, HasPorts: true, TCPFlags: flags, TTL: 64},
		In: flow.Port{Format: flow.PortSingle, Index: 3}, Bytes: bytes, Packets: 64, SamplingRate: 64, Sequence: uint32(bytes)}
}

func TestSumsByKeyAndInterval(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 5, 0, time.UTC)
	s := &sink{}
	a := newAggregator(Config{Interval: time.Minute, MaxKeys: 100}, s, func() time.Time { return now })
	b := &pipeline.Batch{Flows: []flow.Record{
		rec("10.0.0.1", "10.0.0.2", 40000, 1000, 0x02),
		rec("10.0.0.1", "10.0.0.2", 40000, 3000, 0x10),
		rec("10.0.0.1", "10.0.0.2", 40001, 500, 0x10),
	}, Counters: []flow.Counter{{}}}
	a.Write(b)
	a.wait()
	if s.counters != 1 {
		t.Errorf("counters must pass through at once: %d", s.counters)
	}
	now = now.Add(time.Minute)
	a.Flush()
	if len(s.flows) != 2 {
		t.Fatalf("%d aggregates, want 2", len(s.flows))
	}
	for _, r := range s.flows {
		switch r.SrcPort {
		case 40000:
			if r.Bytes != 4000 || r.Packets != 128 || r.Samples != 2 || r.TCPFlags != 0x12 {
				t.Errorf("40000: %d bytes %d packets %d samples flags %#x", r.Bytes, r.Packets, r.Samples, r.TCPFlags)
			}
			if r.TTL != 0 || r.Sequence != 0 {
				t.Error("per-packet fields kept in an aggregate")
			}
		case 40001:
			if r.Bytes != 500 || r.Samples != 1 {
				t.Errorf("40001: %d bytes", r.Bytes)
			}
		}
		if !r.Start.Equal(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)) || r.End.Sub(r.Start) != time.Minute {
			t.Errorf("interval %v–%v", r.Start, r.End)
		}
	}
	if st := a.Stats(); st.Records != 3 || st.Aggregates != 2 || st.Keys != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestOverflowIsBoundedAndCounted(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s := &sink{}
	a := newAggregator(Config{Interval: time.Minute, MaxKeys: 10}, s, func() time.Time { return now })
	var total uint64
	b := &pipeline.Batch{}
	for i := 0; i < 1000; i++ {
		r := rec("10.0.0.1", "10.0.0.2", uint16(1000+i), uint64(i+1), 0)
		total += r.Bytes
		b.Flows = append(b.Flows, r)
	}
	a.Write(b)
	if st := a.Stats(); st.Keys > 11 || st.Overflowed != 990 {
		t.Errorf("stats %+v", st)
	}
	a.Flush()
	var sum uint64
	overflow := 0
	for _, r := range s.flows {
		sum += r.Bytes
		if r.Overflow {
			overflow++
			if r.Samples != 990 || r.HasPorts {
				t.Errorf("overflow record: %d samples, ports %v", r.Samples, r.HasPorts)
			}
		}
	}
	if sum != total || overflow != 1 {
		t.Errorf("bytes %d of %d, %d overflow records", sum, total, overflow)
	}
}

// On the real capture, aggregation keeps every byte and packet.
func TestCaptureTotalsArePreserved(t *testing.T) {
	ds, err := pcapfile.ReadAll("../../testdata/ovs/ovs-sflow.pcap", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	now := ds[0].Time
	a := newAggregator(Config{Interval: 10 * time.Second, MaxKeys: 1000}, s, func() time.Time { return now })
	dec := sflow.NewDecoder(sflow.Options{})
	var res sflow.Result
	var bytes, packets, n uint64
	for _, d := range ds {
		if d.Time.Sub(now) >= 10*time.Second {
			now = d.Time
			a.Flush()
		}
		dec.Decode(d.Payload, d.Time, &res)
		for _, f := range res.Flows {
			bytes += f.Bytes
			packets += f.Packets
			n++
		}
		a.Write(&pipeline.Batch{Flows: res.Flows})
	}
	a.Close()
	var gb, gp, gs uint64
	for _, r := range s.flows {
		gb, gp, gs = gb+r.Bytes, gp+r.Packets, gs+r.Samples
	}
	if gb != bytes || gp != packets || gs != n || !s.closed {
		t.Errorf("aggregated %d bytes %d packets %d samples; raw %d %d %d", gb, gp, gs, bytes, packets, n)
	}
	if len(s.flows) >= int(n)/3 {
		t.Errorf("%d aggregates for %d samples: aggregation does not aggregate", len(s.flows), n)
	}
	t.Logf("%d samples → %d aggregates", n, len(s.flows))
}

func TestIntervalTooShort(t *testing.T) {
	if _, err := New(Config{Interval: time.Second, MaxKeys: 1}, &sink{}); err == nil {
		t.Error("1s interval accepted")
	}
}

func TestCloseFlushesAndStops(t *testing.T) {
	s := &sink{}
	a, err := New(Config{Interval: time.Hour, MaxKeys: 10}, s)
	if err != nil {
		t.Fatal(err)
	}
	a.Write(&pipeline.Batch{Flows: []flow.Record{rec("10.0.0.1", "10.0.0.2", 1, 10, 0)}})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if len(s.flows) != 1 || !s.closed {
		t.Errorf("after Close: %d aggregates, next closed %v", len(s.flows), s.closed)
	}
}

// blocked is an output whose writes wait until it is released, as a store
// does during a checkpoint.
type blocked struct {
	sink
	release chan struct{}
	entered chan struct{}
}

func (b *blocked) Write(x *pipeline.Batch) error {
	b.entered <- struct{}{}
	<-b.release
	return b.sink.Write(x)
}

// A stalled output holds up neither aggregation nor the caller: writes wait
// in a bounded queue, those beyond it are dropped and counted, and what was
// queued arrives in order once the output is back.
func TestSlowOutputDoesNotBlockWrites(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	out := &blocked{release: make(chan struct{}), entered: make(chan struct{}, 1000)}
	a := newAggregator(Config{Interval: time.Minute, MaxKeys: 100}, out, func() time.Time { return now })
	// Every Write sends its counters: one queued write each.
	n := queueBatches + 10
	a.Write(&pipeline.Batch{Counters: []flow.Counter{{}}})
	<-out.entered // the writer holds the first batch
	now = now.Add(counterEvery)
	written := make(chan struct{})
	go func() {
		for i := 1; i < n; i++ {
			a.Write(&pipeline.Batch{Counters: []flow.Counter{{Sequence: uint32(i)}}})
			now = now.Add(counterEvery)
		}
		close(written)
	}()
	select {
	case <-written:
	case <-time.After(10 * time.Second):
		t.Fatal("Write blocked behind a stalled output")
	}
	st := a.Stats()
	// One batch is in the output, queueBatches wait; the rest are dropped.
	if st.Dropped != uint64(n-1-queueBatches) || st.Queued != queueBatches {
		t.Errorf("dropped %d queued %d, want %d and %d", st.Dropped, st.Queued, n-1-queueBatches, queueBatches)
	}
	close(out.release)
	a.Flush()
	if out.counters != 1+queueBatches {
		t.Errorf("%d counter batches written, want %d", out.counters, 1+queueBatches)
	}
}

// Close waits for a slow output to take the last interval: shutting down
// loses nothing.
func TestCloseDeliversEverything(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 30, 0, time.UTC)
	out := &blocked{release: make(chan struct{}), entered: make(chan struct{}, 1000)}
	a := newAggregator(Config{Interval: time.Minute, MaxKeys: 100}, out, func() time.Time { return now })
	a.Write(&pipeline.Batch{Flows: []flow.Record{rec("10.0.0.1", "10.0.0.2", 1, 100, 0)}})
	go func() {
		time.Sleep(100 * time.Millisecond)
		close(out.release)
	}()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if len(out.flows) != 1 || !out.closed || a.Stats().Dropped != 0 {
		t.Errorf("%d flows, closed %v, stats %+v", len(out.flows), out.closed, a.Stats())
	}
}

type quietSink struct {
	sink
	quiet [][2]time.Time
}

func (q *quietSink) WriteQuiet(start, end time.Time) error {
	q.quiet = append(q.quiet, [2]time.Time{start, end})
	return nil
}

// An interval without flows is reported to an output that wants to know
// (the store, to tell quiet from not running); one with flows is not.
func TestQuietIntervals(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 5, 0, time.UTC)
	q := &quietSink{}
	a := newAggregator(Config{Interval: time.Minute, MaxKeys: 100}, q, func() time.Time { return now })
	now = now.Add(time.Minute)
	a.Flush()
	a.Write(&pipeline.Batch{Flows: []flow.Record{rec("10.0.0.1", "10.0.0.2", 40000, 1000, 0)}})
	now = now.Add(time.Minute)
	a.Flush()
	if len(q.quiet) != 1 || !q.quiet[0][0].Equal(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)) || q.quiet[0][1].Sub(q.quiet[0][0]) != time.Minute {
		t.Errorf("quiet intervals %v, want 10:00-10:01 only", q.quiet)
	}
	if len(q.flows) != 1 {
		t.Errorf("%d aggregates", len(q.flows))
	}
}

// Aggregates are attributed again when written: a sample that arrived
// before the inventory knew its port is stored with names.
func TestRefreshBeforeWrite(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 5, 0, time.UTC)
	s := &sink{}
	a := newAggregator(Config{Interval: time.Minute, MaxKeys: 100}, s, func() time.Time { return now })
	known := &flow.Identity{PortID: "p1", InstanceName: "web-1"}
	var inventory *flow.Identity // not read yet
	a.SetRefresh(func(r *flow.Record) {
		if r.SrcAddr == netip.MustParseAddr("10.0.0.1") {
			r.SrcID = inventory
		}
	})
	a.Write(&pipeline.Batch{Flows: []flow.Record{rec("10.0.0.1", "10.0.0.2", 40000, 1000, 0)}})
	if live := a.Live(); len(live) != 1 || live[0].SrcID != nil {
		t.Fatalf("live before the inventory: %+v", live)
	}
	inventory = known
	now = now.Add(time.Minute)
	a.Flush()
	if len(s.flows) != 1 || s.flows[0].SrcID.OrEmpty().InstanceName != "web-1" {
		t.Errorf("written: %+v, want it attributed to web-1", s.flows)
	}
}

// The map hashes the key as one block of memory only if it has no
// padding and no pointers.
func TestKeyHasNoPadding(t *testing.T) {
	typ := reflect.TypeOf(key{})
	var sum uintptr
	for i := range typ.NumField() {
		f := typ.Field(i)
		sum += f.Type.Size()
		switch f.Type.Kind() {
		case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Struct:
			t.Errorf("field %s is a %s", f.Name, f.Type.Kind())
		}
	}
	if sum != typ.Size() {
		t.Errorf("fields take %d bytes, the struct %d: padding", sum, typ.Size())
	}
}

// Addresses that differ only in family or presence are different keys.
func TestKeyTellsFamiliesApart(t *testing.T) {
	addrs := []netip.Addr{{}, netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::"),
		netip.MustParseAddr("::ffff:0.0.0.0"), netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("::ffff:10.0.0.1")}
	seen := map[key]netip.Addr{}
	for _, a := range addrs {
		r := flow.Record{Packet: flow.Packet{SrcAddr: a}}
		k := keyOf(&r)
		if b, ok := seen[k]; ok {
			t.Errorf("%v and %v have one key", a, b)
		}
		seen[k] = a
	}
}

// stalled returns an aggregator whose writer holds one counter group in a
// stalled output and has queueBatches more in its full queue, with its
// clock.
func stalled(t *testing.T) (*Aggregator, *blocked, *time.Time) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	out := &blocked{release: make(chan struct{}), entered: make(chan struct{}, 1000)}
	a := newAggregator(Config{Interval: time.Minute, MaxKeys: 100}, out, func() time.Time { return now })
	a.Write(&pipeline.Batch{Counters: []flow.Counter{{}}})
	<-out.entered
	for i := 0; i < queueBatches; i++ {
		now = now.Add(counterEvery)
		a.Write(&pipeline.Batch{Counters: []flow.Counter{{Sequence: uint32(i)}}})
	}
	if st := a.Stats(); st.Queued != queueBatches || st.Dropped != 0 {
		t.Fatalf("queue not full: %+v", st)
	}
	return a, out, &now
}

// An output stalled past the queue costs counter groups, counted, but no
// finished interval while fewer than maxHeld wait: they are held and
// handed over, in order, once the output is back; beyond maxHeld the
// oldest is dropped and counted.
func TestStalledOutputHoldsIntervals(t *testing.T) {
	a, out, now := stalled(t)
	// maxHeld+1 intervals end while the output is stalled, each with
	// one aggregate (a different source port each).
	for i := 0; i <= maxHeld; i++ {
		a.Write(&pipeline.Batch{Flows: []flow.Record{rec("10.0.0.1", "10.0.0.2", uint16(1000+i), 100, 0)}})
		*now = now.Truncate(time.Minute).Add(time.Minute)
		a.flush()
	}
	st := a.Stats()
	if st.Held != maxHeld || st.Dropped != 1 {
		t.Fatalf("held %d dropped %d, want %d held and the oldest interval's 1 aggregate dropped", st.Held, st.Dropped, maxHeld)
	}
	close(out.release)
	// The writer drains its queue; the next counter group (a second
	// later) hands the held intervals over.
	for deadline := time.Now().Add(10 * time.Second); a.Stats().Queued > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the writer did not drain")
		}
	}
	*now = now.Add(counterEvery)
	a.Write(&pipeline.Batch{Counters: []flow.Counter{{}}})
	a.Flush()
	if st := a.Stats(); st.Held != 0 || st.Dropped != 1 {
		t.Errorf("after the output came back: %+v", st)
	}
	var ports []uint16
	for _, f := range out.flows {
		ports = append(ports, f.SrcPort)
	}
	want := []uint16{1001, 1002}
	if len(ports) != len(want) || ports[0] != want[0] || ports[1] != want[1] {
		t.Errorf("intervals written: source ports %v, want %v (the held ones, in order)", ports, want)
	}
}

// Held intervals are written at Close even when the last interval is
// empty: shutting down loses nothing the aggregator kept.
func TestCloseWritesHeldIntervals(t *testing.T) {
	a, out, now := stalled(t)
	a.Write(&pipeline.Batch{Flows: []flow.Record{rec("10.0.0.1", "10.0.0.2", 1000, 100, 0)}})
	*now = now.Truncate(time.Minute).Add(time.Minute)
	a.flush() // held: the queue is full
	if st := a.Stats(); st.Held != 1 {
		t.Fatalf("held %d, want 1", st.Held)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		close(out.release)
	}()
	// The current interval is empty when Close flushes it.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if len(out.flows) != 1 || a.Stats().Dropped != 0 {
		t.Errorf("%d aggregates written at Close, stats %+v; want the held interval's 1", len(out.flows), a.Stats())
	}
}
