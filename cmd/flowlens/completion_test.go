package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cliEnv makes the test binary behave as the flowlens command, so that
// shells can run it as "flowlens".
const cliEnv = "FLOWLENS_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) != "" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func complete(t *testing.T, line string) []string {
	t.Helper()
	var out bytes.Buffer
	if err := cmdComplete([]string{line}, &out); err != nil {
		t.Fatal(err)
	}
	return strings.Fields(out.String())
}

func TestComplete(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string
	}{
		{"flowlens o", []string{"ovn", "ovs"}},
		{"flowlens ovn configure --dom", []string{"--domain="}},
		{"flowlens ovs ", []string{"check", "configure"}},
		{"flowlens ovs configure --ap", []string{"--apply"}},
		{"flowlens ovs configure --targ", []string{"--target="}},
		{"flowlens run --store.ret", []string{"--store.retention="}},
		{"flowlens --input.sflow.lis", []string{"--input.sflow.listen="}},
		{"flowlens completion ", []string{"bash", "fish", "zsh"}},
		{"flowlens geoip ", []string{"update"}},
		{"flowlens setup kibana --flav", []string{"--flavor="}},
		{"flowlens geoip update --fo", []string{"--force"}},
		{"flowlens decode ", []string{filesMarker}},
		{"flowlens run --config=/e", []string{filesMarker}},
		{"flowlens run --no-such-fl", nil},
	} {
		got := complete(t, c.line)
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%q: got %q, want %q", c.line, got, c.want)
		}
	}
	// Every subcommand offered is one main knows.
	for _, c := range complete(t, "flowlens ") {
		if c == "help" {
			continue
		}
		var stderr bytes.Buffer
		run([]string{c, "-h"}, &bytes.Buffer{}, &stderr)
		if strings.Contains(stderr.String(), "unknown command") {
			t.Errorf("completion offers %q, which flowlens does not know", c)
		}
	}
}

// The bash script, run by a real bash against this binary standing in for
// flowlens.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(dir, "flowlens")); err != nil {
		t.Fatal(err)
	}
	comp := func(words ...string) string {
		line := strings.Join(words, " ")
		// bash splits words at "=" too (COMP_WORDBREAKS).
		var cw []string
		for _, w := range words {
			if a, b, ok := strings.Cut(w, "="); ok {
				cw = append(cw, a, "=")
				if b != "" {
					cw = append(cw, b)
				}
				continue
			}
			cw = append(cw, w)
		}
		script := `source <(flowlens completion bash)
COMP_LINE="$LINE"; COMP_POINT=${#COMP_LINE}; read -ra COMP_WORDS <<<"$WORDS"
[[ $LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_flowlens; printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command(bash, "--norc", "-c", script)
		cmd.Env = append(os.Environ(), cliEnv+"=1", "PATH="+dir+":"+os.Getenv("PATH"),
			"LINE="+line, "WORDS="+strings.Join(cw, " "))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := comp("flowlens", "ovs", "con"); got != "configure" {
		t.Errorf("subcommand: %q", got)
	}
	if got := comp("flowlens", "run", "--log.for"); got != "--log.format=" {
		t.Errorf("flag: %q", got)
	}
	os.WriteFile(filepath.Join(dir, "capture.pcap"), nil, 0o644)
	if got := comp("flowlens", "decode", "cap"); got != "capture.pcap" {
		t.Errorf("file: %q", got)
	}
	if got := comp("flowlens", "run", "--config=cap"); got != "capture.pcap" {
		t.Errorf("file after =: %q", got)
	}
}
