// Command ingest measures the highest rate at which a receiver takes in the
// real Open vSwitch sFlow capture, replayed over 127.0.0.1, without losing
// more than -max-loss of the datagrams. It searches that rate, in one run,
// for each receiver:
//
//	countonly        bench/cmd/countonly: one socket, counts and discards
//	                 (the machine's limit)
//	flowlens-noout   flowlens run with the output disabled (decode,
//	                 per-agent accounting, enrichment, batching)
//	flowlens-ndjson  flowlens run writing NDJSON to a file on disk
//	flowlens-ndjson-compact  the same with output.ndjson.fields: compact
//	flowlens-store   flowlens run with its default output: aggregated flows
//	                 in the embedded DuckDB store (in a temporary directory)
//	sfacctd          pmacct's sfacctd (Debian package pmacct) aggregating
//	                 with its print plugin to JSON files, 32 MiB socket
//	                 buffer (-sfacctd-aggregate: the keys)
//	goflow2          goflow2 (go install .../goflow2/v2/cmd/goflow2@v2.2.6)
//	                 writing one JSON line per sample to a file, its defaults
//
// A flowlens receiver may name another build: flowlens-store:/tmp/flowlens-old
// runs that binary (the sender stays -flowlens), so that two builds are
// measured side by side in one run.
//
// By default the receivers take turns (-interleave): every receiver's
// search advances by one trial per round, so that all of them meet the
// same moments of a shared machine's load, instead of one receiver's whole
// search running in a quiet minute and the next one's in a busy one.
//
// Every flowlens run also gets -flowlens-base (by default no web console and
// no NetFlow/IPFIX sockets); noout and ndjson run with the store disabled.
//
// Each trial starts the receiver on a fresh port, sends the capture with
// `flowlens replay --rate R --loops -1 --duration D` (which renumbers sFlow
// sequence numbers per loop, so a loop is not seen as loss), waits -drain
// for the receiver to empty its socket, reads the receiver's peak RSS
// (VmHWM) and CPU time from /proc, stops it with SIGTERM and reads its own
// summary. A trial passes when all of these are below -max-loss:
//
//	(sent - received) / sent        received: datagrams the receiver read
//	                                (sfacctd, which does not count them:
//	                                sent - kernel drops - what is still
//	                                queued on its socket after the drain)
//	kernel drops / sent             the socket's counter in /proc/net/udp
//	sequence-number loss / sent     flowlens' per-agent "lost" counter
//	dropped records / records       flowlens' output queue drops (ndjson),
//	                                goflow2's dropped datagrams (its queue)
//
// and flowlens reports no decode error, sfacctd no "missing data" (its
// plugin's buffer overrun).
//
// The sender is `flowlens replay` with -sockets sockets (sendmmsg batches;
// with more than one, each socket is an sFlow sub-agent of its own with its
// own sequence numbers, `--split`), optionally pinned with taskset
// (-sender-cpus, -receiver-cpus) so that sender and receiver each get a core. The search steps the rate up by
// -step from -start until a trial fails or the sender cannot go faster,
// bisects -bisect times between the last pass and the first fail, and
// confirms the best rate with one more trial (stepping down 5 % until a
// confirmation passes).
//
// Usage (from the bench directory; see BENCHMARKS.md and ingest.sh):
//
//	go run ./cmd/ingest -flowlens /tmp/flowlens-bench -countonly /tmp/countonly-bench
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
)

type config struct {
	flowlens, countonly, pcap string
	pcapPort                  int
	duration, drain           time.Duration
	receivers                 []string
	start, step               float64
	bisect                    int
	maxLoss                   float64
	ndjsonDir                 string
	sockets                   int
	jsonOut                   string
	flowlensFlags             []string
	flowlensBase              []string
	seqLoss                   bool
	retries                   int
	retryWait                 time.Duration
	sfacctd, goflow2          string
	sfacctdAggregate          string
	interleave                bool
	senderCPUs, receiverCPUs  string
}

// children are the processes of the trial under way, ended if ingest is
// interrupted.
var (
	childMu  sync.Mutex
	children = map[*os.Process]bool{}
)

func track(p *os.Process, on bool) {
	childMu.Lock()
	defer childMu.Unlock()
	if on {
		children[p] = true
	} else {
		delete(children, p)
	}
}

func main() {
	var c config
	var receivers string
	flag.StringVar(&c.flowlens, "flowlens", "/tmp/flowlens-bench", "flowlens binary (go build -o /tmp/flowlens-bench ./cmd/flowlens)")
	flag.StringVar(&c.countonly, "countonly", "/tmp/countonly-bench", "countonly binary (go build -o /tmp/countonly-bench ./cmd/countonly)")
	flag.StringVar(&c.pcap, "pcap", filepath.Join("..", "testdata", "ovs", "ovs-sflow.pcap"), "capture to replay")
	flag.IntVar(&c.pcapPort, "pcap-port", 6343, "replay the capture's datagrams to this UDP port (0: all)")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of one trial's replay")
	flag.DurationVar(&c.drain, "drain", time.Second, "wait after the replay before stopping the receiver")
	flag.StringVar(&receivers, "receivers", "countonly,flowlens-noout,flowlens-ndjson,flowlens-store,sfacctd,goflow2",
		"receivers to measure, in this order (a peer that is not installed is skipped, said in the log)")
	flag.Float64Var(&c.start, "start", 10000, "first rate tried, datagrams/s")
	flag.Float64Var(&c.step, "step", 1.5, "factor between rates while stepping up")
	flag.IntVar(&c.bisect, "bisect", 4, "bisection steps after the first failure")
	flag.Float64Var(&c.maxLoss, "max-loss", 0.001, "largest loss fraction that still passes")
	flag.StringVar(&c.ndjsonDir, "ndjson-dir", os.TempDir(), "directory (on disk) for flowlens' NDJSON output and store; each trial's are removed after it")
	flag.IntVar(&c.sockets, "sockets", 1, "replay sending sockets")
	flag.StringVar(&c.jsonOut, "json", "", "also append every trial as a JSON line to this file")
	baseFlags := flag.String("flowlens-base", "--console.enabled=false --input.netflow.listen=",
		"flags every `flowlens run` gets: no web console, no NetFlow/IPFIX sockets (only sFlow is sent)")
	extra := flag.String("flowlens-flags", "", "extra flags for `flowlens run`, space-separated (e.g. --pipeline.queue_size=65536)")
	flag.BoolVar(&c.seqLoss, "seq-loss", true, "count flowlens' sequence-number loss against a trial (turn off with -sockets > 1: the replay then reorders datagrams, which flowlens counts as loss)")
	flag.IntVar(&c.retries, "retries", 3, "trials run again when the sender was starved by other processes")
	flag.DurationVar(&c.retryWait, "retry-wait", 10*time.Second, "wait before running a starved trial again")
	flag.StringVar(&c.sfacctd, "sfacctd", "sfacctd", "pmacct's sfacctd binary (apt-get install pmacct)")
	flag.StringVar(&c.goflow2, "goflow2", defaultGoflow2(), "goflow2 binary (go install github.com/netsampler/goflow2/v2/cmd/goflow2@v2.2.6)")
	flag.StringVar(&c.sfacctdAggregate, "sfacctd-aggregate",
		"peer_src_ip, in_iface, out_iface, src_mac, dst_mac, vlan, etype, src_host, dst_host, proto, src_port, dst_port, tcpflags",
		"sfacctd's aggregation keys (the nearest pmacct has to flowlens' aggregation key)")
	flag.BoolVar(&c.interleave, "interleave", true, "receivers take turns, one trial each per round, instead of one whole search after the other")
	flag.StringVar(&c.senderCPUs, "sender-cpus", "", "taskset CPU list for the sender (e.g. 1); empty: not pinned")
	flag.StringVar(&c.receiverCPUs, "receiver-cpus", "", "taskset CPU list for the receiver (e.g. 0); empty: not pinned")
	flag.Parse()
	c.flowlensFlags = strings.Fields(*extra)
	c.flowlensBase = strings.Fields(*baseFlags)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		childMu.Lock()
		for p := range children {
			_ = p.Kill()
		}
		childMu.Unlock()
		fmt.Fprintln(os.Stderr, "ingest: interrupted")
		os.Exit(1)
	}()
	for _, name := range strings.Split(receivers, ",") {
		bin := map[string]string{"sfacctd": c.sfacctd, "goflow2": c.goflow2}[name]
		if bin != "" {
			if _, err := exec.LookPath(bin); err != nil {
				fmt.Printf("# skipping %s: %v\n", name, err)
				continue
			}
		}
		c.receivers = append(c.receivers, name)
	}

	for _, p := range []string{c.flowlens, c.pcap} {
		if _, err := os.Stat(p); err != nil {
			fatal(err)
		}
	}
	var jsonw io.Writer = io.Discard
	if c.jsonOut != "" {
		f, err := os.OpenFile(c.jsonOut, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fatal(err)
		}
		defer f.Close()
		jsonw = f
	}

	fmt.Printf("# ingest benchmark %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("# host: %d CPUs, %s, load average at start: %s\n", runtime.NumCPU(), kernel(), loadavg())
	if b, err := os.ReadFile("/proc/sys/net/core/rmem_max"); err == nil {
		fmt.Printf("# net.core.rmem_max %s (sfacctd and goflow2 ask with SO_RCVBUF, capped by it; flowlens and countonly use SO_RCVBUFFORCE: sysctl -w net.core.rmem_max=33554432 gives sfacctd its 32 MiB)\n", strings.TrimSpace(string(b)))
	}
	samplesPer, err := flowSamplesPerDatagram(c.pcap, c.pcapPort)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("# capture %s (%.2f flow samples a datagram), trial %s + drain %s, pass: loss < %.2f %%, replay sockets %d, sequence loss counted %v, flowlens flags %q + %q\n",
		c.pcap, samplesPer, c.duration, c.drain, c.maxLoss*100, c.sockets, c.seqLoss, c.flowlensBase, c.flowlensFlags)
	fmt.Printf("# receivers %s, interleaved %v, sender CPUs %q, receiver CPUs %q; %s\n",
		strings.Join(c.receivers, ","), c.interleave, c.senderCPUs, c.receiverCPUs, peerVersions(c))

	// How fast can the sender go? Measured into countonly at rate 0.
	ceil := trial(c, "countonly", 0)
	report(jsonw, ceil)
	senderMax := ceil.achieved
	fmt.Printf("# sender ceiling (flowlens replay --rate 0, into countonly): %.0f datagrams/s, sender CPU %.2f cores\n", senderMax, ceil.senderCPU)

	var best []*result
	if c.interleave {
		best = searchInterleaved(c, senderMax, jsonw)
	} else {
		for _, name := range c.receivers {
			fmt.Printf("\n## %s\n", name)
			best = append(best, search(c, name, senderMax, func(rate float64) *result {
				return runRetrying(c, name, rate, senderMax, jsonw)
			}))
		}
	}

	fmt.Printf("\n# load average at end: %s\n", loadavg())
	fmt.Println("\n| receiver | highest loss-free rate (datagrams/s) | flow samples/s | % of countonly | sender-bound | loss at that rate | peak RSS (VmHWM) | receiver CPU (cores) | sender CPU (cores) | NDJSON MB/s | first failing rate |")
	fmt.Println("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
	var base float64
	for _, r := range best {
		if r == nil {
			continue
		}
		if r.receiver == "countonly" {
			base = r.achieved
		}
		pct := "-"
		if base > 0 {
			pct = fmt.Sprintf("%.0f %%", 100*r.achieved/base)
		}
		mbs := "-"
		if r.ndjsonBytes > 0 {
			mbs = fmt.Sprintf("%.0f", float64(r.ndjsonBytes)/r.elapsed.Seconds()/1e6)
		}
		fail := "-"
		if r.firstFail > 0 {
			fail = fmt.Sprintf("%.0f", r.firstFail)
		}
		rss := "-"
		if r.hwmKB > 0 {
			rss = fmt.Sprintf("%.1f MB", float64(r.hwmKB)/1024)
		}
		fmt.Printf("| %s | %.0f | %.0f | %s | %v | %.4f %% | %s | %.2f | %.2f | %s | %s |\n",
			r.receiver, r.achieved, r.achieved*samplesPer, pct, r.senderBound, r.loss*100, rss, r.recvCPU, r.senderCPU, mbs, fail)
	}
}

// result is one trial.
type result struct {
	receiver    string
	rate        float64 // asked for; 0 = as fast as possible
	sent        uint64
	sentBytes   uint64
	pluginLoss  uint64 // sfacctd: "missing data" messages (its plugin buffer overran)
	elapsed     time.Duration
	achieved    float64 // sent / elapsed
	senderBound bool    // the sender did not reach the rate asked for
	received    uint64  // datagrams the receiver read
	kernelDrops uint64  // from /proc/net/udp, read before stopping the receiver
	selfDrops   uint64  // kernel drops the receiver itself reported
	backlog     uint64  // bytes still queued on the receiver's sockets when it was stopped
	seqLost     uint64
	decodeErrs  uint64
	records     uint64 // flowlens: records written by the output
	outDropped  uint64 // flowlens: records dropped or failed in the output
	loss        float64
	pass        bool
	why         string
	hwmKB       uint64
	recvCPU     float64 // cores: receiver CPU time / (duration + drain)
	senderCPU   float64
	ndjsonBytes int64
	firstFail   float64 // set on the search's best result
	load        string  // load average when the trial started
	err         error
}

// runRetrying runs one trial, again (after -retry-wait) when the sender
// was starved.
func runRetrying(c config, name string, rate, senderMax float64, jsonw io.Writer) *result {
	for try := 1; ; try++ {
		r := trial(c, name, rate)
		report(jsonw, r)
		// A sender far below both the rate asked for and its own
		// ceiling was starved by other processes on this shared
		// machine: that trial says nothing about the receiver.
		starved := rate > 0 && r.achieved < 0.9*min(rate, senderMax)
		if !starved || try == c.retries+1 {
			return r
		}
		fmt.Printf("# sender starved (%.0f/s of %.0f asked): waiting %s and trying again\n", r.achieved, rate, c.retryWait)
		time.Sleep(c.retryWait)
	}
}

// searchInterleaved runs every receiver's search at once, one trial at a
// time: each round gives every receiver still searching its next trial,
// in the order of -receivers. The searches are the same as one after the
// other; only the order of the trials changes.
func searchInterleaved(c config, senderMax float64, jsonw io.Writer) []*result {
	type searcher struct {
		name string
		req  chan float64
		res  chan *result
		done chan *result
	}
	ss := make([]*searcher, len(c.receivers))
	for i, name := range c.receivers {
		s := &searcher{name: name, req: make(chan float64), res: make(chan *result), done: make(chan *result, 1)}
		ss[i] = s
		go func() {
			s.done <- search(c, name, senderMax, func(rate float64) *result {
				s.req <- rate
				return <-s.res
			})
		}()
	}
	best := make([]*result, len(ss))
	active := len(ss)
	for round := 1; active > 0; round++ {
		fmt.Printf("\n## round %d (load %s)\n", round, loadavg())
		for i, s := range ss {
			if s == nil {
				continue
			}
			select {
			case rate := <-s.req:
				s.res <- runRetrying(c, s.name, rate, senderMax, jsonw)
			case r := <-s.done:
				best[i], ss[i] = r, nil
				active--
			}
		}
	}
	return best
}

// search finds the highest passing rate for one receiver, running its
// trials with run.
func search(c config, name string, senderMax float64, runTrial func(rate float64) *result) *result {
	// A trial that could not run (the receiver did not start, exited)
	// says nothing about rates: the search stops at the first.
	broken := false
	run := func(rate float64) *result {
		if broken {
			return &result{receiver: name, rate: rate, err: errors.New("search abandoned")}
		}
		r := runTrial(rate)
		if r.err != nil {
			broken = true
			fmt.Printf("# %s: %v: search abandoned\n", name, r.err)
		}
		return r
	}
	var lo *result // best pass
	var hi float64 // lowest fail
	for rate := c.start; ; rate *= c.step {
		capped := false
		if rate >= senderMax*1.05 {
			rate, capped = math.Round(senderMax*1.05), true
		}
		r := run(rate)
		if !r.pass {
			hi = rate
			break
		}
		lo = r
		if capped || r.senderBound && r.achieved >= 0.9*senderMax {
			break // the sender cannot go faster: this receiver's limit is above what we can send
		}
		// (A sender a little short of a rate far below its ceiling was
		// slowed by other processes for a moment: go on stepping.)
	}
	if lo == nil {
		// Even the first rate failed: look below it.
		for rate := c.start / c.step; rate >= 100; rate /= c.step {
			r := run(rate)
			if r.pass {
				lo = r
				break
			}
			hi = rate
		}
		if lo == nil {
			fmt.Printf("# %s: no rate passed\n", name)
			return nil
		}
	}
	if hi > 0 {
		for i := 0; i < c.bisect; i++ {
			mid := math.Round((lo.rate + hi) / 2)
			r := run(mid)
			if r.pass {
				lo = r
			} else {
				hi = mid
			}
		}
	}
	// Confirm: the best rate must pass a second time.
	best := lo
	for rate := lo.rate; rate >= 100; rate = math.Round(rate * 0.95) {
		r := run(rate)
		if r.pass {
			// Report the confirmation trial, with the worse loss and
			// peak RSS of the two trials at that rate.
			if lo.rate == rate {
				r.loss = math.Max(r.loss, lo.loss)
				r.hwmKB = max(r.hwmKB, lo.hwmKB)
			}
			best = r
			break
		}
	}
	if broken {
		return nil
	}
	best.firstFail = hi
	fmt.Printf("# %s: highest loss-free rate %.0f datagrams/s (asked %.0f)\n", name, best.achieved, best.rate)
	return best
}

// report prints one trial and appends it as JSON.
func report(w io.Writer, r *result) {
	status := "PASS"
	if !r.pass {
		status = "FAIL " + r.why
	}
	if r.err != nil {
		status = "ERROR " + r.err.Error()
	}
	fmt.Printf("%-16s rate %7.0f sent %8d (%7.0f/s%s) recv %8d kdrop %6d (self %d) seqlost %6d derr %d rec %9d outdrop %d loss %.4f%% rss %6.1fMB cpu %.2f/%.2f load %s  %s\n",
		r.receiver, r.rate, r.sent, r.achieved, map[bool]string{true: " sender-bound", false: ""}[r.senderBound],
		r.received, r.kernelDrops, r.selfDrops, r.seqLost, r.decodeErrs, r.records, r.outDropped, r.loss*100,
		float64(r.hwmKB)/1024, r.recvCPU, r.senderCPU, strings.Fields(r.load + " ?")[0], status)
	errStr := ""
	if r.err != nil {
		errStr = r.err.Error()
	}
	b, _ := json.Marshal(map[string]any{
		"time": time.Now().UTC().Format(time.RFC3339), "receiver": r.receiver, "rate": r.rate, "sent": r.sent,
		"elapsed_s": r.elapsed.Seconds(), "achieved": r.achieved, "sender_bound": r.senderBound,
		"received": r.received, "kernel_drops": r.kernelDrops, "receiver_reported_kernel_drops": r.selfDrops,
		"backlog_bytes": r.backlog, "seq_lost": r.seqLost, "decode_errors": r.decodeErrs,
		"records": r.records, "output_dropped": r.outDropped, "loss": r.loss, "pass": r.pass, "why": r.why,
		"vmhwm_kb": r.hwmKB, "receiver_cpu_cores": r.recvCPU, "sender_cpu_cores": r.senderCPU,
		"ndjson_bytes": r.ndjsonBytes, "load_average": r.load, "error": errStr, "sfacctd_missing_data": r.pluginLoss,
	})
	fmt.Fprintln(w, string(b))
}

// trial runs one receiver at one rate.
func trial(c config, name string, rate float64) *result {
	r := &result{receiver: name, rate: rate, load: loadavg()}
	if err := runTrial(c, name, rate, r); err != nil {
		r.err = err
		r.pass = false
		r.why = "error"
	}
	return r
}

func runTrial(c config, name string, rate float64, r *result) error {
	// "flowlens-store:/path/to/flowlens" runs that binary instead of
	// -flowlens: two builds side by side in one interleaved search.
	flowlensBin := c.flowlens
	if kind, bin, ok := strings.Cut(name, ":"); ok && strings.HasPrefix(kind, "flowlens-") {
		name, flowlensBin = kind, bin
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var cmd *exec.Cmd
	var ndjsonPath, ready, metricsAddr, outGlob string
	switch name {
	case "countonly":
		cmd = exec.Command(c.countonly, "-listen", addr)
		ready = "countonly listening"
	case "sfacctd":
		dir, err := os.MkdirTemp(c.ndjsonDir, "sfacctd-ingest-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		conf := filepath.Join(dir, "sfacctd.conf")
		outGlob = filepath.Join(dir, "out-*.json")
		// 32 MiB socket buffer like flowlens'; the print plugin keeps
		// aggregates in memory and writes them every minute (and at the
		// end), as flowlens' aggregator does.
		err = os.WriteFile(conf, []byte(fmt.Sprintf(`daemonize: false
sfacctd_ip: 127.0.0.1
sfacctd_port: %d
sfacctd_pipe_size: %d
sfacctd_renormalize: true
plugins: print[p]
aggregate[p]: %s
print_output[p]: json
print_output_file[p]: %s
print_refresh_time[p]: 60
print_history[p]: 1m
`, port, 32<<20, c.sfacctdAggregate, filepath.Join(dir, "out-%s.json"))), 0o644)
		if err != nil {
			return err
		}
		cmd = exec.Command(c.sfacctd, "-f", conf)
		ready = "waiting for sFlow data"
	case "goflow2":
		dir, err := os.MkdirTemp(c.ndjsonDir, "goflow2-ingest-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		mport, err := freePort()
		if err != nil {
			return err
		}
		metricsAddr = fmt.Sprintf("127.0.0.1:%d", mport)
		outGlob = filepath.Join(dir, "flows.json")
		cmd = exec.Command(c.goflow2, "-listen", "sflow://"+addr, "-addr", metricsAddr,
			"-format", "json", "-transport", "file", "-transport.file", outGlob)
		ready = "starting collection"
	case "flowlens-noout", "flowlens-ndjson", "flowlens-ndjson-compact", "flowlens-store":
		args := append([]string{"run", "--input.sflow.listen=" + addr, "--log.format=json", "--log.stats_interval=0s"},
			c.flowlensBase...)
		tmp := filepath.Join(c.ndjsonDir, fmt.Sprintf("flowlens-ingest-%d-%d", os.Getpid(), port))
		switch name {
		case "flowlens-noout":
			args = append(args, "--output.ndjson.path=", "--store.enabled=false")
		case "flowlens-ndjson", "flowlens-ndjson-compact":
			ndjsonPath = tmp + ".ndjson"
			defer os.Remove(ndjsonPath)
			args = append(args, "--output.ndjson.path="+ndjsonPath, "--store.enabled=false")
			if name == "flowlens-ndjson-compact" {
				args = append(args, "--output.ndjson.fields=compact")
			}
		case "flowlens-store":
			defer os.RemoveAll(tmp)
			args = append(args, "--output.ndjson.path=", "--store.path="+tmp)
		}
		cmd = exec.Command(flowlensBin, append(args, c.flowlensFlags...)...)
		ready = `"msg":"flowlens started"`
	default:
		return fmt.Errorf("unknown receiver %q", name)
	}
	if c.receiverCPUs != "" {
		cmd = exec.Command("taskset", append([]string{"-c", c.receiverCPUs, cmd.Path}, cmd.Args[1:]...)...)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	track(cmd.Process, true)
	defer track(cmd.Process, false)
	defer cmd.Process.Kill() // in case of an early return; harmless after Wait
	var stderr bytes.Buffer
	var mu sync.Mutex
	readyCh := make(chan struct{})
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		sc := bufio.NewScanner(stderrPipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := false
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			stderr.WriteString(line + "\n")
			mu.Unlock()
			if !once && strings.Contains(line, ready) {
				once = true
				close(readyCh)
			}
		}
		if !once {
			close(readyCh)
		}
	}()
	select {
	case <-readyCh:
	case <-time.After(10 * time.Second):
		return errors.New("receiver did not start")
	}
	if metricsAddr != "" {
		// goflow2 says "starting collection" just before it binds.
		time.Sleep(300 * time.Millisecond)
	}
	pid := cmd.Process.Pid
	cpu0 := treeCPU(pid)

	// Send.
	ctx, cancel := context.WithTimeout(context.Background(), c.duration+30*time.Second)
	defer cancel()
	repArgs := []string{c.flowlens, "replay", "--to", addr, "--rate", strconv.FormatFloat(rate, 'f', 0, 64),
		"--loops", "-1", "--duration", c.duration.String(), "--sockets", strconv.Itoa(c.sockets), "--port", strconv.Itoa(c.pcapPort)}
	if c.sockets > 1 {
		repArgs = append(repArgs, "--split")
	}
	repArgs = append(repArgs, c.pcap)
	if c.senderCPUs != "" {
		repArgs = append([]string{"taskset", "-c", c.senderCPUs}, repArgs...)
	}
	rep := exec.CommandContext(ctx, repArgs[0], repArgs[1:]...)
	var repBuf bytes.Buffer
	rep.Stdout, rep.Stderr = &repBuf, &repBuf
	err = rep.Start()
	if err == nil {
		track(rep.Process, true)
		err = rep.Wait()
		track(rep.Process, false)
	}
	repOut := repBuf.Bytes()
	if err != nil {
		return fmt.Errorf("replay: %v: %s", err, repOut)
	}
	if rep.ProcessState != nil {
		r.senderCPU = (rep.ProcessState.UserTime() + rep.ProcessState.SystemTime()).Seconds() / c.duration.Seconds()
	}
	m := regexp.MustCompile(`sent (\d+) datagrams \((\d+) bytes\) in ([^:]+): `).FindSubmatch(repOut)
	if m == nil {
		return fmt.Errorf("replay said: %s", repOut)
	}
	r.sent, _ = strconv.ParseUint(string(m[1]), 10, 64)
	r.sentBytes, _ = strconv.ParseUint(string(m[2]), 10, 64)
	r.elapsed, _ = time.ParseDuration(string(m[3]))
	if r.elapsed > 0 {
		r.achieved = float64(r.sent) / r.elapsed.Seconds()
	}
	r.senderBound = rate == 0 || r.achieved < 0.97*rate

	time.Sleep(c.drain)
	r.kernelDrops, r.backlog = udpSockets(port)
	r.hwmKB = treeHWM(pid)
	r.recvCPU = (treeCPU(pid) - cpu0) / (c.duration + c.drain).Seconds()
	if metricsAddr != "" {
		m, err := scrape(metricsAddr)
		if err != nil {
			return fmt.Errorf("goflow2 metrics: %v", err)
		}
		r.received = uint64(m["goflow2_flow_traffic_packets_total"])
		r.outDropped = uint64(m["goflow2_flow_dropped_packets_total"])
		r.decodeErrs = uint64(m["goflow2_flow_decoder_error_total"])
	}
	if ndjsonPath != "" {
		// Size before the final flush: what was written while receiving.
		if st, err := os.Stat(ndjsonPath); err == nil {
			r.ndjsonBytes = st.Size()
		}
	}
	stopSig := syscall.SIGTERM
	if name == "sfacctd" {
		// sfacctd's core blocks SIGTERM while it waits for a datagram
		// (it would stop at the next one); SIGINT stops it at once,
		// and its plugin writes what it holds.
		stopSig = syscall.SIGINT
	}
	_ = cmd.Process.Signal(stopSig)
	waitErr := make(chan error, 1)
	go func() { <-scanDone; waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			mu.Lock()
			defer mu.Unlock()
			return fmt.Errorf("receiver exited: %v: %s", err, lastLines(stderr.String(), 5))
		}
	case <-time.After(60 * time.Second):
		return errors.New("receiver did not stop within 60 s of SIGTERM")
	}
	if ndjsonPath != "" {
		if st, err := os.Stat(ndjsonPath); err == nil && st.Size() > r.ndjsonBytes {
			r.ndjsonBytes = st.Size()
		}
	}
	if outGlob != "" {
		files, _ := filepath.Glob(outGlob)
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				r.ndjsonBytes += st.Size()
			}
		}
	}

	switch name {
	case "countonly":
		var s struct {
			Datagrams   uint64 `json:"datagrams"`
			KernelDrops uint64 `json:"kernel_drops"`
		}
		if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &s); err != nil {
			return fmt.Errorf("countonly output %q: %v", stdout.String(), err)
		}
		r.received, r.selfDrops = s.Datagrams, s.KernelDrops
	case "goflow2":
		// received and dropped came from its metrics, before SIGTERM.
	case "sfacctd":
		// sfacctd counts nothing it received: what the kernel did not
		// drop and that is not still queued on the socket was read.
		queued := uint64(0)
		if r.sent > 0 && r.backlog > 0 {
			queued = r.backlog / max(1, r.sentBytes/r.sent)
		}
		if r.sent > r.kernelDrops+queued {
			r.received = r.sent - r.kernelDrops - queued
		}
		mu.Lock()
		r.pluginLoss = uint64(strings.Count(stderr.String(), "missing data"))
		mu.Unlock()
	default:
		if err := parseSummary(stderr.Bytes(), r); err != nil {
			return err
		}
	}

	// Judge.
	var missing uint64
	if r.sent > r.received {
		missing = r.sent - r.received
	}
	worst := max(missing, r.kernelDrops, r.selfDrops)
	if name == "goflow2" {
		worst = max(worst, r.outDropped) // datagrams its queue dropped
	}
	if c.seqLoss {
		worst = max(worst, r.seqLost)
	}
	if r.sent > 0 {
		r.loss = float64(worst) / float64(r.sent)
	}
	var whys []string
	if r.sent == 0 {
		whys = append(whys, "nothing sent")
	}
	if r.loss >= c.maxLoss {
		whys = append(whys, fmt.Sprintf("loss %.3f%% (missing %d, kernel drops %d, seq lost %d, backlog %d B)",
			r.loss*100, missing, r.kernelDrops, r.seqLost, r.backlog))
	}
	if r.decodeErrs > 0 {
		whys = append(whys, fmt.Sprintf("%d decode errors", r.decodeErrs))
	}
	if r.pluginLoss > 0 {
		whys = append(whys, fmt.Sprintf("sfacctd's plugin said \"missing data\" %d times", r.pluginLoss))
	}
	if total := r.records + r.outDropped; total > 0 && float64(r.outDropped)/float64(total) >= c.maxLoss {
		whys = append(whys, fmt.Sprintf("output dropped %d of %d records", r.outDropped, total))
	}
	r.pass = len(whys) == 0
	r.why = strings.Join(whys, "; ")
	return nil
}

// parseSummary reads flowlens' JSON log summary lines.
func parseSummary(log []byte, r *result) error {
	var agents, sockets int
	for _, line := range bytes.Split(log, []byte("\n")) {
		if !bytes.HasPrefix(line, []byte("{")) {
			continue
		}
		var m map[string]any
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		num := func(k string) uint64 {
			f, _ := m[k].(float64)
			return uint64(f)
		}
		switch m["msg"] {
		case "agent summary":
			agents++
			r.seqLost += num("lost")
			r.decodeErrs += num("decode_errors")
		case "socket summary":
			sockets++
			r.received += num("datagrams")
			r.selfDrops += num("kernel_drops") + num("truncated")
		case "output summary":
			r.records += num("written")
			r.outDropped += num("dropped") + num("failed")
		case "aggregate summary": // aggregators sum in the input goroutines; they drop only behind
			r.records += num("records")
			r.outDropped += num("dropped")
		}
	}
	if sockets == 0 {
		return fmt.Errorf("no socket summary in flowlens' log: %s", lastLines(string(log), 5))
	}
	return nil
}

// udpSockets sums the drop counters and receive queues of every socket
// bound to 127.0.0.1:port in /proc/net/udp (flowlens binds several with
// SO_REUSEPORT). It is read while the receiver still runs: a closed socket
// leaves the table, and its drop counter with it.
func udpSockets(port int) (drops, rxQueue uint64) {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return 0, 0
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 13 || f[1] != local {
			continue
		}
		d, _ := strconv.ParseUint(f[len(f)-1], 10, 64)
		drops += d
		if _, rx, ok := strings.Cut(f[4], ":"); ok {
			q, _ := strconv.ParseUint(rx, 16, 64)
			rxQueue += q
		}
	}
	return drops, rxQueue
}

func freePort() (int, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// procStatusKB reads a "Name:   N kB" line of /proc/PID/status.
func procStatusKB(pid int, key string) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// procCPU returns the user+system CPU seconds of pid (all threads).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// After the command: state is field 3, utime 14, stime 15 (1-based).
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return "Linux " + strings.TrimSpace(string(b))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "ingest:", err)
	os.Exit(1)
}

// treePIDs returns pid and its descendants (sfacctd forks its plugins).
func treePIDs(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			parent[p] = pp
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		for p, pp := range parent {
			if pp == out[i] {
				out = append(out, p)
			}
		}
	}
	return out
}

// treeCPU is the CPU time of pid and its live descendants.
func treeCPU(pid int) float64 {
	var t float64
	for _, p := range treePIDs(pid) {
		t += procCPU(p)
	}
	return t
}

// treeHWM sums the peak RSS of pid and its descendants: an upper bound of
// the tree's peak (memory the processes share, such as sfacctd's plugin
// ring, counts once per process).
func treeHWM(pid int) uint64 {
	var kb uint64
	for _, p := range treePIDs(pid) {
		kb += procStatusKB(p, "VmHWM")
	}
	return kb
}

// scrape reads a Prometheus text page and sums every sample by metric name.
func scrape(addr string) (map[string]float64, error) {
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			m[name] += v
		}
	}
	return m, sc.Err()
}

func defaultGoflow2() string {
	if p, err := exec.LookPath("goflow2"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, "go", "bin", "goflow2")
	}
	return "goflow2"
}

// peerVersions says which peers the run measures.
func peerVersions(c config) string {
	var out []string
	for _, name := range c.receivers {
		switch name {
		case "sfacctd":
			b, _ := exec.Command(c.sfacctd, "-V").CombinedOutput()
			out = append(out, strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
		case "goflow2":
			b, _ := exec.Command(c.goflow2, "-v").CombinedOutput()
			out = append(out, "goflow2 "+strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
		}
	}
	if len(out) == 0 {
		return "no peers"
	}
	return strings.Join(out, "; ")
}

// flowSamplesPerDatagram is the capture's mean number of flow samples in
// the sFlow datagrams the replay sends (those to port, or all with 0).
func flowSamplesPerDatagram(path string, port int) (float64, error) {
	ds, err := pcapfile.ReadAll(path, nil)
	if err != nil {
		return 0, err
	}
	dec := sflow.NewDecoder(sflow.Options{})
	var res sflow.Result
	n, flows := 0, 0
	for _, d := range ds {
		if port != 0 && int(d.Dst.Port()) != port {
			continue
		}
		if dec.Decode(d.Payload, d.Time, &res) == nil {
			n++
			flows += len(res.Flows)
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("%s: no sFlow datagram to port %d", path, port)
	}
	return float64(flows) / float64(n), nil
}
