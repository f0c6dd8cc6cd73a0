// Package ovs writes and reads Open vSwitch's flow export settings: the
// ovs-vsctl commands that make bridges send sFlow (and IPFIX) to flowlens,
// quoted correctly, and what each bridge exports now.
package ovs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// Settings describe the export to configure.
type Settings struct {
	Bridges  []string // bridges to configure; empty: every bridge
	Agent    string   // interface or address naming this hypervisor in the data
	Target   string   // sFlow collector, host:port
	Sampling int      // 1 in N packets
	Polling  int      // counter interval, seconds
	Header   int      // bytes of each sampled packet
	IPFIX    string   // IPFIX collector host:port, "" for none
}

// Validate checks the settings.
func (s Settings) Validate() error {
	if s.Agent == "" {
		return errors.New("no agent: give --agent, the interface whose address names this hypervisor (e.g. eth0)")
	}
	if _, err := netip.ParseAddrPort(s.Target); err != nil {
		return fmt.Errorf("--target %q: use an address and port, e.g. 192.0.2.10:6343 or [2001:db8::10]:6343", s.Target)
	}
	if s.IPFIX != "" {
		if _, err := netip.ParseAddrPort(s.IPFIX); err != nil {
			return fmt.Errorf("--ipfix %q: use an address and port, e.g. 192.0.2.10:4739", s.IPFIX)
		}
	}
	if s.Sampling < 1 || s.Polling < 0 || s.Header < 64 || s.Header > 256 {
		return errors.New("sampling must be at least 1, polling 0 or more, header between 64 and 256 bytes")
	}
	return nil
}

// ovsdbString quotes a value as an OVSDB string inside ovs-vsctl's syntax.
// ovs-vsctl parses "192.0.2.10:6343" unquoted as a set and fails on the
// colon; the double quotes must reach it.
func ovsdbString(s string) string { return `"` + s + `"` }

// Command returns the ovs-vsctl arguments (without "ovs-vsctl") that create
// one sFlow row (and IPFIX row) and attach it to every bridge.
func Command(s Settings, bridges []string) []string {
	args := []string{"--", "--id=@sflow", "create", "sflow",
		"agent=" + ovsdbString(s.Agent),
		"targets=" + ovsdbString(s.Target),
		fmt.Sprintf("header=%d", s.Header),
		fmt.Sprintf("sampling=%d", s.Sampling),
		fmt.Sprintf("polling=%d", s.Polling)}
	if s.IPFIX != "" {
		args = append(args, "--", "--id=@ipfix", "create", "ipfix",
			"targets="+ovsdbString(s.IPFIX), fmt.Sprintf("sampling=%d", s.Sampling))
	}
	for _, b := range bridges {
		args = append(args, "--", "set", "bridge", b, "sflow=@sflow")
		if s.IPFIX != "" {
			args = append(args, "ipfix=@ipfix")
		}
	}
	return args
}

// ShellQuote renders argv for a POSIX shell, so the printed command can be
// pasted as it is.
func ShellQuote(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=@/.:,+", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// Runner runs ovs-vsctl. Tests point it at a private database.
type Runner struct {
	Path string   // ovs-vsctl
	Args []string // e.g. --db=unix:/path/db.sock
}

func (r Runner) run(ctx context.Context, args ...string) ([]byte, error) {
	path := r.Path
	if path == "" {
		path = "ovs-vsctl"
	}
	cmd := exec.CommandContext(ctx, path, append(append([]string{"--timeout=10"}, r.Args...), args...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("ovs-vsctl %s: %s", strings.Join(args, " "), strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("cannot run ovs-vsctl (is Open vSwitch installed and are you root?): %w", err)
	}
	return out, nil
}

// Bridges lists the bridges.
func (r Runner) Bridges(ctx context.Context) ([]string, error) {
	out, err := r.run(ctx, "list-br")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

// Apply runs the command for the settings.
func (r Runner) Apply(ctx context.Context, s Settings, bridges []string) error {
	_, err := r.run(ctx, Command(s, bridges)...)
	return err
}

// Export is what one bridge exports now.
type Export struct {
	Bridge   string
	SFlow    *SFlowRow
	IPFIX    []string // IPFIX targets
	NetFlow  []string // NetFlow targets
	Problems []string
}

// SFlowRow is a bridge's sFlow settings.
type SFlowRow struct {
	Agent    string
	Targets  []string
	Sampling int
	Polling  int
	Header   int
}

// Check reads what every bridge exports and says what looks wrong.
func (r Runner) Check(ctx context.Context, collector []string) ([]Export, error) {
	bridges, err := r.table(ctx, "Bridge", "_uuid,name,sflow,ipfix,netflow")
	if err != nil {
		return nil, err
	}
	sflows, err := r.table(ctx, "sFlow", "_uuid,agent,targets,sampling,polling,header")
	if err != nil {
		return nil, err
	}
	ipfixes, err := r.table(ctx, "IPFIX", "_uuid,targets")
	if err != nil {
		return nil, err
	}
	netflows, err := r.table(ctx, "NetFlow", "_uuid,targets")
	if err != nil {
		return nil, err
	}
	byUUID := func(rows []map[string]any) map[string]map[string]any {
		m := map[string]map[string]any{}
		for _, row := range rows {
			m[uuidOf(row["_uuid"])] = row
		}
		return m
	}
	sf, ix, nf := byUUID(sflows), byUUID(ipfixes), byUUID(netflows)
	var out []Export
	for _, b := range bridges {
		e := Export{Bridge: fmt.Sprint(b["name"])}
		if row := sf[uuidOf(b["sflow"])]; row != nil {
			e.SFlow = &SFlowRow{Agent: first(row["agent"]), Targets: strs(row["targets"]),
				Sampling: num(row["sampling"]), Polling: num(row["polling"]), Header: num(row["header"])}
		}
		if row := ix[uuidOf(b["ipfix"])]; row != nil {
			e.IPFIX = strs(row["targets"])
		}
		if row := nf[uuidOf(b["netflow"])]; row != nil {
			e.NetFlow = strs(row["targets"])
		}
		e.Problems = problems(e, collector)
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Bridge < out[j].Bridge })
	return out, nil
}

func problems(e Export, collector []string) []string {
	var p []string
	if e.SFlow == nil {
		return append(p, "no sFlow")
	}
	if e.SFlow.Agent == "" {
		p = append(p, "no agent set: the agent address falls back to the route's source address")
	}
	if len(collector) > 0 {
		found := false
		for _, t := range e.SFlow.Targets {
			for _, c := range collector {
				if t == c {
					found = true
				}
			}
		}
		if !found {
			p = append(p, fmt.Sprintf("sFlow goes to %v, not to %v", e.SFlow.Targets, collector))
		}
	}
	return p
}

// table lists a table as JSON (ovs-vsctl --format=json), one map per row.
func (r Runner) table(ctx context.Context, table, columns string) ([]map[string]any, error) {
	out, err := r.run(ctx, "--format=json", "--columns="+columns, "list", table)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Headings []string `json:"headings"`
		Data     [][]any  `json:"data"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("ovs-vsctl list %s: %w", table, err)
	}
	rows := make([]map[string]any, 0, len(doc.Data))
	for _, d := range doc.Data {
		row := map[string]any{}
		for i, h := range doc.Headings {
			if i < len(d) {
				row[h] = d[i]
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// OVSDB JSON values: ["uuid","…"], ["set",[…]], or an atom.
func uuidOf(v any) string {
	if a, ok := v.([]any); ok && len(a) == 2 && a[0] == "uuid" {
		return fmt.Sprint(a[1])
	}
	return ""
}

func strs(v any) []string {
	if a, ok := v.([]any); ok && len(a) == 2 && a[0] == "set" {
		var out []string
		if items, ok := a[1].([]any); ok {
			for _, it := range items {
				out = append(out, fmt.Sprint(it))
			}
		}
		return out
	}
	if s, ok := v.(string); ok {
		return []string{s}
	}
	return nil
}

func first(v any) string {
	if s := strs(v); len(s) > 0 {
		return s[0]
	}
	return ""
}

func num(v any) int {
	if f, ok := v.(float64); ok {
		return int(f)
	}
	return 0
}

// DefaultInterface returns the interface of the IPv4 default route, the
// usual choice for the sFlow agent.
func DefaultInterface() string {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 2 && fields[1] == "00000000" {
			return fields[0]
		}
	}
	return ""
}
