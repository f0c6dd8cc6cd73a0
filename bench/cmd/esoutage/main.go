// Command esoutage is the long-outage fault test of flowlens' Elasticsearch
// output (see BENCHMARKS.md and bench/es-outage.sh): `flowlens run` with the
// output pointed at a stand-in Elasticsearch node (bench/internal/esbulk,
// "create" semantics: 409 for an _id it holds), fed at a steady rate by
// `flowlens replay` of the real capture; the node is taken down (its
// listener and every connection closed: connection refused) for -outage
// while the load goes on, then brought back on the same address. Once the
// load has stopped and the spool has drained, flowlens is stopped and the
// test checks that every sample sent was indexed exactly once:
//
//   - documents created = samples in the datagrams sent = flowlens' accepted;
//   - no sample (dataset, agent, sub-agent, datagram sequence number, source
//     id, sample sequence number) created twice, under any id, and no two
//     created documents with the same source;
//   - nothing dropped, dead-lettered or rejected, no UDP loss;
//   - the spool was used during the outage and is empty at the end.
//
// Creates of an id the node held already (409: a request processed whose
// answer was lost when the node went down, sent again) are reported: they
// are deduplicated by create semantics, not duplicates.
//
// Traffic goes to 127.0.0.1 only.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowlens/flowlens/bench/internal/esbulk"
	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
)

func main() {
	flowlens := flag.String("flowlens", "/tmp/flowlens-esoutage", "flowlens binary")
	pcap := flag.String("pcap", "../testdata/ovs/ovs-sflow.pcap", "sFlow capture to replay (UDP 6343)")
	rate := flag.Float64("rate", 500, "datagrams per second sent during the whole test")
	before := flag.Duration("before", 30*time.Second, "load before the outage")
	outage := flag.Duration("outage", 10*time.Minute, "how long the node is down")
	after := flag.Duration("after", 60*time.Second, "load after the node is back")
	drain := flag.Duration("drain-timeout", 15*time.Minute, "longest wait for the spool to drain once the load stopped")
	work := flag.String("workdir", "", "directory for the spool, dead-letter file and log (default: a new temporary one, removed on success)")
	latency := flag.Duration("latency", 200*time.Millisecond, "the node holds every bulk answer this long (a busy cluster), so that going down loses answers to processed requests")
	extra := flag.String("flowlens-flags", "", "more `flowlens run` flags, space-separated")
	flag.Parse()
	start := time.Now()
	res, err := run(config{flowlens: *flowlens, pcap: *pcap, rate: *rate, before: *before, outage: *outage,
		after: *after, drain: *drain, work: *work, latency: *latency, extra: strings.Fields(*extra)})
	logf("elapsed %s", time.Since(start).Round(time.Second))
	if err != nil {
		logf("FAIL: %v", err)
		os.Exit(1)
	}
	logf("PASS: %s", res)
}

type config struct {
	flowlens, pcap string
	rate           float64
	before, outage time.Duration
	after, drain   time.Duration
	work           string
	latency        time.Duration
	extra          []string
}

func logf(format string, args ...any) {
	fmt.Printf("%s %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// sampleKey identifies one sample: replay renumbers datagram sequence
// numbers per loop, so it is unique over the whole test.
type sampleKey struct {
	dataset                  string
	agent                    string
	sub, seq, srcIndex, sseq uint32
	srcType                  uint8
}

type docFields struct {
	Event    struct{ Dataset string }
	Observer struct{ IP string }
	Flowlens struct {
		Agent struct {
			SubID uint32 `json:"sub_id"`
		}
		Sflow struct {
			Sequence       uint32 `json:"sequence"`
			SampleSequence uint32 `json:"sample_sequence"`
			SourceIDType   uint8  `json:"source_id_type"`
			SourceIDIndex  uint32 `json:"source_id_index"`
		}
	}
}

// samples tracks what the node created.
type samples struct {
	mu        sync.Mutex
	seen      map[sampleKey]struct{}
	twice     int
	bad       int
	firstBad  string
	datagrams map[[2]string]map[uint32]struct{} // agent/sub → datagram sequence numbers
}

func (s *samples) add(index, id string, src []byte) {
	var d docFields
	if err := json.Unmarshal(src, &d); err != nil || d.Event.Dataset == "" {
		s.bad++
		if s.firstBad == "" {
			s.firstBad = fmt.Sprintf("%s/%s: %v %.200s", index, id, err, src)
		}
		return
	}
	k := sampleKey{dataset: d.Event.Dataset, agent: d.Observer.IP, sub: d.Flowlens.Agent.SubID, seq: d.Flowlens.Sflow.Sequence,
		srcType: d.Flowlens.Sflow.SourceIDType, srcIndex: d.Flowlens.Sflow.SourceIDIndex, sseq: d.Flowlens.Sflow.SampleSequence}
	if _, ok := s.seen[k]; ok {
		s.twice++
		return
	}
	s.seen[k] = struct{}{}
	dk := [2]string{k.agent, strconv.Itoa(int(k.sub))}
	if s.datagrams[dk] == nil {
		s.datagrams[dk] = map[uint32]struct{}{}
	}
	s.datagrams[dk][k.seq] = struct{}{}
}

// node is the stand-in cluster on a fixed address, up or down.
type node struct {
	addr string
	s    *esbulk.Server
	mu   sync.Mutex
	srv  *http.Server
}

func (n *node) up() error {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may be held for a moment after close
		if ln, err = net.Listen("tcp", n.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	n.addr = ln.Addr().String()
	srv := &http.Server{Handler: n.s, ReadHeaderTimeout: 10 * time.Second}
	n.mu.Lock()
	n.srv = srv
	n.mu.Unlock()
	go srv.Serve(ln)
	return nil
}

// down closes the listener and every connection at once, requests in
// progress included: their answers are lost.
func (n *node) down() {
	n.mu.Lock()
	srv := n.srv
	n.srv = nil
	n.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// expectedSamples returns the flow and counter samples of each datagram of
// the capture, in replay order.
func expectedSamples(path string) ([]int, error) {
	ds, err := pcapfile.ReadAll(path, func(d pcapfile.Datagram) bool { return d.Dst.Port() == 6343 })
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, errors.New(path + ": no sFlow datagram")
	}
	dec := sflow.NewDecoder(sflow.Options{})
	var r sflow.Result
	out := make([]int, len(ds))
	for i, d := range ds {
		if err := dec.Decode(d.Payload, time.Now(), &r); err != nil {
			return nil, fmt.Errorf("datagram %d: %w", i, err)
		}
		out[i] = len(r.Flows) + len(r.Counters)
	}
	return out, nil
}

func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

func dirStats(dir string) (files int, bytes int64) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
			if fi, err := d.Info(); err == nil {
				bytes += fi.Size()
			}
		}
		return nil
	})
	return
}

// summary is what flowlens logs at exit.
type summary struct {
	accepted, indexed, duplicates, deadLettered, dropped, spooled, retried int64
	datagrams, lost, kernelDrops, decodeErrors                             int64
	found                                                                  bool
}

func parseLog(path string) (summary, error) {
	var s summary
	f, err := os.Open(path)
	if err != nil {
		return s, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		num := func(k string) int64 { v, _ := m[k].(float64); return int64(v) }
		switch m["msg"] {
		case "elasticsearch summary":
			s.found = true
			s.accepted, s.indexed, s.duplicates = num("accepted"), num("indexed"), num("duplicates")
			s.deadLettered, s.dropped, s.spooled, s.retried = num("dead_lettered"), num("dropped"), num("spooled_documents"), num("retried")
		case "agent summary":
			s.datagrams += num("datagrams")
			s.lost += num("lost")
			s.decodeErrors += num("decode_errors")
		case "socket summary":
			s.kernelDrops += num("kernel_drops")
		}
	}
	return s, sc.Err()
}

var sentRe = regexp.MustCompile(`sent (\d+) datagrams`)

func run(c config) (string, error) {
	perDatagram, err := expectedSamples(c.pcap)
	if err != nil {
		return "", err
	}
	work := c.work
	if work == "" {
		if work, err = os.MkdirTemp("", "esoutage-"); err != nil {
			return "", err
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return "", err
	}
	spoolDir := filepath.Join(work, "spool")
	logPath := filepath.Join(work, "flowlens.log")

	smp := &samples{seen: map[sampleKey]struct{}{}, datagrams: map[[2]string]map[uint32]struct{}{}}
	n := &node{addr: "127.0.0.1:0"}
	n.s = esbulk.New(esbulk.Options{Validate: true, TrackSources: true, Latency: c.latency, OnCreate: smp.add})
	if err := n.up(); err != nil {
		return "", err
	}
	defer n.down()
	udpPort, err := freeUDPPort()
	if err != nil {
		return "", err
	}
	logf("node http://%s, flowlens on udp 127.0.0.1:%d, workdir %s", n.addr, udpPort, work)
	logf("plan: %.0f datagrams/s; %s of load, node down for %s, %s of load, then drain (≤ %s); node answers after %s",
		c.rate, c.before, c.outage, c.after, c.drain, c.latency)

	logFile, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logFile.Close()
	args := append([]string{"run",
		"--input.sflow.listen=127.0.0.1:" + strconv.Itoa(udpPort), "--input.netflow.listen=",
		"--console.enabled=false", "--store.enabled=false", "--output.ndjson.path=",
		"--log.format=json", "--log.stats_interval=30s",
		"--output.elasticsearch.urls=http://" + n.addr, "--output.elasticsearch.index=outage",
		"--output.elasticsearch.spool.dir=" + spoolDir,
		"--output.elasticsearch.dead_letter.path=" + filepath.Join(work, "dead-letter.ndjson"),
	}, c.extra...)
	fl := exec.Command(c.flowlens, args...)
	fl.Stdout, fl.Stderr = logFile, logFile
	if err := fl.Start(); err != nil {
		return "", err
	}
	flDone := make(chan error, 1)
	go func() { flDone <- fl.Wait() }()
	defer func() {
		if fl.ProcessState == nil {
			fl.Process.Kill()
		}
	}()
	// Let it bind its socket and install the templates.
	select {
	case err := <-flDone:
		return "", fmt.Errorf("flowlens exited at start (%v); see %s", err, logPath)
	case <-time.After(2 * time.Second):
	}

	total := c.before + c.outage + c.after
	var replayOut strings.Builder
	rp := exec.Command(c.flowlens, "replay", "--to", "127.0.0.1:"+strconv.Itoa(udpPort), "--rate", strconv.FormatFloat(c.rate, 'f', -1, 64),
		"--loops", "-1", "--duration", total.String(), c.pcap)
	rp.Stdout, rp.Stderr = &replayOut, &replayOut
	if err := rp.Start(); err != nil {
		return "", err
	}
	rpDone := make(chan error, 1)
	go func() { rpDone <- rp.Wait() }()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var upAt time.Time
	var recovered time.Duration
	wait := func(d time.Duration, what string) error {
		t := time.NewTimer(d)
		defer t.Stop()
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		poll := time.NewTicker(250 * time.Millisecond)
		defer poll.Stop()
		for {
			select {
			case <-poll.C:
				if !upAt.IsZero() && recovered == 0 {
					if files, _ := dirStats(spoolDir); files == 0 {
						recovered = time.Since(upAt)
						logf("spool empty %s after the node came back", recovered.Round(100*time.Millisecond))
					}
				}
			case <-t.C:
				return nil
			case <-ctx.Done():
				return errors.New("interrupted")
			case err := <-flDone:
				return fmt.Errorf("flowlens exited early (%v); see %s", err, logPath)
			case <-tick.C:
				files, bytes := dirStats(spoolDir)
				st := n.s.Stats()
				logf("  %s: node created %d (409s %d), spool %d files %.1f MB", what, st.Created, st.Conflicts, files, float64(bytes)/1e6)
			}
		}
	}
	if err := wait(c.before, "before"); err != nil {
		return "", err
	}
	// Go down while the answer to a processed request is held, if one
	// comes within 5 s: its documents are created, its answer lost.
	for t := time.Now(); n.s.Stats().Held == 0 && time.Since(t) < 5*time.Second; {
		time.Sleep(time.Millisecond)
	}
	atDown := n.s.Stats()
	n.down()
	logf("node DOWN (created so far %d; answers lost: %d requests)", atDown.Created, atDown.Held)
	if err := wait(c.outage, "outage"); err != nil {
		return "", err
	}
	files, spoolPeak := dirStats(spoolDir)
	if err := n.up(); err != nil {
		return "", fmt.Errorf("node cannot come back on %s: %w", n.addr, err)
	}
	upAt = time.Now()
	logf("node UP again (spool %d files, %.1f MB; created during the outage: %d)", files, float64(spoolPeak)/1e6, n.s.Stats().Created-atDown.Created)
	if err := wait(c.after, "after"); err != nil {
		return "", err
	}
	select {
	case <-rpDone:
	case <-time.After(30 * time.Second):
		rp.Process.Kill()
		<-rpDone
	}
	m := sentRe.FindStringSubmatch(replayOut.String())
	if m == nil {
		return "", fmt.Errorf("replay output: %q", replayOut.String())
	}
	sent, _ := strconv.Atoi(m[1])
	want := 0
	for i := 0; i < sent; i++ {
		want += perDatagram[i%len(perDatagram)]
	}
	logf("replay: %s", strings.TrimSpace(replayOut.String()))

	// Drained: no spool file left and nothing new created for 5 s.
	drainStart := time.Now()
	last, lastChange := n.s.Stats().Created, time.Now()
	for {
		time.Sleep(500 * time.Millisecond)
		st := n.s.Stats()
		if st.Created != last {
			last, lastChange = st.Created, time.Now()
		}
		files, _ := dirStats(spoolDir)
		if files == 0 && recovered == 0 {
			recovered = time.Since(upAt)
			logf("spool empty %s after the node came back", recovered.Round(100*time.Millisecond))
		}
		if files == 0 && time.Since(lastChange) > 5*time.Second {
			break
		}
		if time.Since(drainStart) > c.drain {
			return "", fmt.Errorf("not drained after %s: %d spool files, created %d of %d", c.drain, files, st.Created, want)
		}
		if ctx.Err() != nil {
			return "", errors.New("interrupted")
		}
	}
	logf("drained in %s after the load stopped", time.Since(drainStart).Round(time.Second))
	fl.Process.Signal(syscall.SIGTERM)
	select {
	case <-flDone:
	case <-time.After(60 * time.Second):
		fl.Process.Kill()
		<-flDone
		return "", errors.New("flowlens did not stop within 60 s of SIGTERM")
	}
	sum, err := parseLog(logPath)
	if err != nil {
		return "", err
	}
	st := n.s.Stats()
	smp.mu.Lock()
	defer smp.mu.Unlock()
	filesEnd, bytesEnd := dirStats(spoolDir)
	var datagramsSeen int
	for _, seqs := range smp.datagrams {
		datagramsSeen += len(seqs)
	}
	logf("sent: %d datagrams, %d samples", sent, want)
	logf("flowlens: datagrams %d, lost %d, kernel drops %d, decode errors %d; output accepted %d, indexed %d, duplicates (409) %d, retried %d, dropped %d, dead-lettered %d, left in spool %d",
		sum.datagrams, sum.lost, sum.kernelDrops, sum.decodeErrors, sum.accepted, sum.indexed, sum.duplicates, sum.retried, sum.dropped, sum.deadLettered, sum.spooled)
	logf("node: created %d, 409 conflicts %d, rejected %d, same source twice %d; distinct samples %d, sample created twice %d, unreadable %d, datagrams represented %d",
		st.Created, st.Conflicts, st.Rejected, st.SameSource, len(smp.seen), smp.twice, smp.bad, datagramsSeen)
	logf("spool: peak %.1f MB on disk at the end of the outage; at the end %d files, %d bytes", float64(spoolPeak)/1e6, filesEnd, bytesEnd)

	var fails []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			fails = append(fails, fmt.Sprintf(format, args...))
		}
	}
	check(sum.found, "no elasticsearch summary in %s", logPath)
	check(sum.datagrams == int64(sent) && sum.lost == 0 && sum.kernelDrops == 0 && sum.decodeErrors == 0,
		"UDP input lost datagrams (received %d of %d, lost %d, kernel drops %d): lower -rate", sum.datagrams, sent, sum.lost, sum.kernelDrops)
	check(sum.accepted == int64(want), "flowlens accepted %d documents, the datagrams sent hold %d samples", sum.accepted, want)
	check(st.Created == uint64(want), "node created %d documents, want %d", st.Created, want)
	check(len(smp.seen) == want, "%d distinct samples created, want %d", len(smp.seen), want)
	check(smp.twice == 0 && st.SameSource == 0, "duplicates: %d samples created twice, %d sources twice", smp.twice, st.SameSource)
	check(smp.bad == 0, "%d unreadable documents, first %s", smp.bad, smp.firstBad)
	check(datagramsSeen == sent, "documents from %d datagrams, want %d", datagramsSeen, sent)
	check(sum.dropped == 0 && sum.deadLettered == 0 && st.Rejected == 0, "dropped %d, dead-lettered %d, rejected %d", sum.dropped, sum.deadLettered, st.Rejected)
	check(sum.indexed+sum.duplicates == sum.accepted, "flowlens: indexed %d + duplicates %d != accepted %d", sum.indexed, sum.duplicates, sum.accepted)
	check(sum.spooled == 0 && filesEnd == 0, "spool not drained: %d documents, %d files", sum.spooled, filesEnd)
	check(c.outage <= 0 || spoolPeak > 0, "the spool was not used during the outage")
	if len(fails) > 0 {
		return "", fmt.Errorf("%s (workdir %s kept)", strings.Join(fails, "; "), work)
	}
	if c.work == "" {
		os.RemoveAll(work)
	}
	return fmt.Sprintf("%d samples in %d datagrams, each indexed exactly once across a %s outage (%d re-sent creates answered 409; spool peak %.1f MB, empty %s after the node came back)",
		want, sent, c.outage, st.Conflicts, float64(spoolPeak)/1e6, recovered.Round(100*time.Millisecond)), nil
}
