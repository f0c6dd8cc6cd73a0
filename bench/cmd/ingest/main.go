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
//	flowlens-store   flowlens run with its default output: aggregated flows
//	                 in the embedded DuckDB store (in a temporary directory)
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
//	kernel drops / sent             the socket's counter in /proc/net/udp
//	sequence-number loss / sent     flowlens' per-agent "lost" counter
//	dropped records / records       flowlens' output queue drops (ndjson)
//
// and flowlens reports no decode error. The search steps the rate up by
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
)

type config struct {
	flowlens, countonly, pcap string
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
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of one trial's replay")
	flag.DurationVar(&c.drain, "drain", time.Second, "wait after the replay before stopping the receiver")
	flag.StringVar(&receivers, "receivers", "countonly,flowlens-noout,flowlens-ndjson,flowlens-store", "receivers to measure, in this order")
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
	c.receivers = strings.Split(receivers, ",")

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
	fmt.Printf("# capture %s, trial %s + drain %s, pass: loss < %.2f %%, replay sockets %d, sequence loss counted %v, flowlens flags %q + %q\n",
		c.pcap, c.duration, c.drain, c.maxLoss*100, c.sockets, c.seqLoss, c.flowlensBase, c.flowlensFlags)

	// How fast can the sender go? Measured into countonly at rate 0.
	ceil := trial(c, "countonly", 0)
	report(jsonw, ceil)
	senderMax := ceil.achieved
	fmt.Printf("# sender ceiling (flowlens replay --rate 0, into countonly): %.0f datagrams/s, sender CPU %.2f cores\n", senderMax, ceil.senderCPU)

	var best []*result
	for _, name := range c.receivers {
		best = append(best, search(c, name, senderMax, jsonw))
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
			r.receiver, r.achieved, r.achieved*697/144, pct, r.senderBound, r.loss*100, rss, r.recvCPU, r.senderCPU, mbs, fail)
	}
}

// result is one trial.
type result struct {
	receiver    string
	rate        float64 // asked for; 0 = as fast as possible
	sent        uint64
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

// search finds the highest passing rate for one receiver.
func search(c config, name string, senderMax float64, jsonw io.Writer) *result {
	fmt.Printf("\n## %s\n", name)
	run := func(rate float64) *result {
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
		if r.senderBound || capped {
			break // the sender cannot go faster: this receiver's limit is above what we can send
		}
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
		"ndjson_bytes": r.ndjsonBytes, "load_average": r.load, "error": errStr,
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
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var cmd *exec.Cmd
	var ndjsonPath, ready string
	switch name {
	case "countonly":
		cmd = exec.Command(c.countonly, "-listen", addr)
		ready = "countonly listening"
	case "flowlens-noout", "flowlens-ndjson", "flowlens-store":
		args := append([]string{"run", "--input.sflow.listen=" + addr, "--log.format=json", "--log.stats_interval=0s"},
			c.flowlensBase...)
		tmp := filepath.Join(c.ndjsonDir, fmt.Sprintf("flowlens-ingest-%d-%d", os.Getpid(), port))
		switch name {
		case "flowlens-noout":
			args = append(args, "--output.ndjson.path=", "--store.enabled=false")
		case "flowlens-ndjson":
			ndjsonPath = tmp + ".ndjson"
			defer os.Remove(ndjsonPath)
			args = append(args, "--output.ndjson.path="+ndjsonPath, "--store.enabled=false")
		case "flowlens-store":
			defer os.RemoveAll(tmp)
			args = append(args, "--output.ndjson.path=", "--store.path="+tmp)
		}
		cmd = exec.Command(c.flowlens, append(args, c.flowlensFlags...)...)
		ready = `"msg":"flowlens started"`
	default:
		return fmt.Errorf("unknown receiver %q", name)
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
	pid := cmd.Process.Pid
	cpu0 := procCPU(pid)

	// Send.
	ctx, cancel := context.WithTimeout(context.Background(), c.duration+30*time.Second)
	defer cancel()
	rep := exec.CommandContext(ctx, c.flowlens, "replay", "--to", addr, "--rate", strconv.FormatFloat(rate, 'f', 0, 64),
		"--loops", "-1", "--duration", c.duration.String(), "--sockets", strconv.Itoa(c.sockets), c.pcap)
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
	r.elapsed, _ = time.ParseDuration(string(m[3]))
	if r.elapsed > 0 {
		r.achieved = float64(r.sent) / r.elapsed.Seconds()
	}
	r.senderBound = rate == 0 || r.achieved < 0.97*rate

	time.Sleep(c.drain)
	r.kernelDrops, r.backlog = udpSockets(port)
	r.hwmKB = procStatusKB(pid, "VmHWM")
	r.recvCPU = (procCPU(pid) - cpu0) / (c.duration + c.drain).Seconds()
	if ndjsonPath != "" {
		// Size before the final flush: what was written while receiving.
		if st, err := os.Stat(ndjsonPath); err == nil {
			r.ndjsonBytes = st.Size()
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
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
