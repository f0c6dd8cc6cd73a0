package esbulk

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ChildEnv, set in a process's environment, makes RunChild serve.
const ChildEnv = "FLOWLENS_BENCH_ESBULK"

// RunChild serves a node on a free 127.0.0.1 port, writes its URL as the
// first line of out and serves until in ends (the parent closed it or
// died). A benchmark runs the node in a process of its own so that the
// node's allocations and GC are not counted as the client's.
func RunChild(in io.Reader, out io.Writer) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "esbulk:", err)
		return 1
	}
	srv := &http.Server{Handler: New(Options{}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Fprintf(out, "http://%s\n", ln.Addr())
	io.Copy(io.Discard, in)
	srv.Close()
	return 0
}

// StartChild starts exe (a binary that calls RunChild when ChildEnv is
// set, e.g. the test binary itself) and returns the node's URL and a
// function that stops it.
func StartChild(exe string) (string, func(), error) {
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://") {
		stop()
		if err == nil {
			err = errors.New("unexpected first line " + line)
		}
		return "", nil, fmt.Errorf("esbulk child: %w", err)
	}
	return strings.TrimSpace(line), stop, nil
}
