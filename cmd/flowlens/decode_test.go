package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pcapOf writes a classic pcap (Ethernet) of UDP datagrams from one
// exporter to port 4739, one per second from t0 unless at says otherwise.
func pcapOf(t *testing.T, at []time.Time, payloads [][]byte) string {
	t.Helper()
	le := binary.LittleEndian
	var b bytes.Buffer
	h := make([]byte, 24)
	le.PutUint32(h, 0xa1b2c3d4)
	le.PutUint16(h[4:], 2)
	le.PutUint16(h[6:], 4)
	le.PutUint32(h[16:], 65535)
	le.PutUint32(h[20:], 1) // Ethernet
	b.Write(h)
	for i, p := range payloads {
		be := binary.BigEndian
		pkt := []byte{0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 8, 0}
		ip := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 10, 192, 0, 2, 1}
		be.PutUint16(ip[2:], uint16(20+8+len(p)))
		udp := be.AppendUint16(nil, 50000)
		udp = be.AppendUint16(udp, 4739)
		udp = be.AppendUint16(udp, uint16(8+len(p)))
		udp = be.AppendUint16(udp, 0)
		pkt = append(append(append(pkt, ip...), udp...), p...)
		rh := make([]byte, 16)
		le.PutUint32(rh, uint32(at[i].Unix()))
		le.PutUint32(rh[8:], uint32(len(pkt)))
		le.PutUint32(rh[12:], uint32(len(pkt)))
		b.Write(rh)
		b.Write(pkt)
	}
	path := filepath.Join(t.TempDir(), "x.pcap")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func u16s(vs ...uint16) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

func ipfixSet(id uint16, body []byte) []byte {
	return append(u16s(id, uint16(4+len(body))), body...)
}

func ipfixMsg(export, seq uint32, sets ...[]byte) []byte {
	var body []byte
	for _, s := range sets {
		body = append(body, s...)
	}
	b := u16s(10, uint16(16+len(body)))
	b = binary.BigEndian.AppendUint32(b, export)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, 0)
	return append(b, body...)
}

// flowlens decode ends with a summary per exporter: sequence numbers
// (with resets), data that came before its template and what became of
// it (decoded later, dropped after waiting, still waiting at the end), and
// decode errors by reason.
func TestDecodeSummary(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	// Template 256: sourceIPv4Address, destinationIPv4Address,
	// packetDeltaCount. Template 257: dataLinkFrameSection (variable) and
	// packetDeltaCount.
	tpl256 := ipfixSet(2, u16s(256, 3, 8, 4, 12, 4, 2, 4))
	tpl257 := ipfixSet(2, u16s(257, 2, 315, 0xffff, 2, 4))
	rec := []byte{10, 0, 0, 1, 10, 0, 0, 2, 0, 0, 0, 1}
	at := []time.Time{t0, t0.Add(time.Second), t0.Add(2 * time.Second), t0.Add(20 * time.Second), t0.Add(21 * time.Second), t0.Add(22 * time.Second)}
	msgs := [][]byte{
		ipfixMsg(uint32(t0.Unix()), 0, ipfixSet(256, rec)),                           // before its template: held
		ipfixMsg(uint32(t0.Unix()), 1, tpl256, ipfixSet(300, rec)),                   // template: the held set decoded; 300 never comes
		ipfixMsg(uint32(t0.Unix()), 2, tpl257, ipfixSet(257, []byte{0, 0, 0, 0, 1})), // an empty section
		ipfixMsg(uint32(t0.Unix()), 3, ipfixSet(301, rec)),                           // 20 s later: the set for 300 expired; 301 held
		ipfixMsg(uint32(t0.Unix()), 5000, ipfixSet(256, rec)),                        // after held data: not checked
		ipfixMsg(uint32(t0.Unix()), 2, ipfixSet(256, rec)),                           // back: the exporter restarted
	}
	path := pcapOf(t, at, msgs)
	var stdout, stderr bytes.Buffer
	records := filepath.Join(t.TempDir(), "records.ndjson")
	if code := run([]string{"decode", "--output", records, path}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{
		"ipfix 192.0.2.10 sub-agent/domain 0: 6 datagrams, 4 flows, 0 counter samples; sequence: 0 lost, 1 resets, 0 out of order",
		"data before its template: 3 sets held; 1 decoded when the template came, 1 dropped after waiting 10s for it, 0 dropped at the pending limits, 1 still waiting at the end (12 bytes; template 301 never came)",
		"decode errors: 2 (no_template_expired 1, section 1)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if b, err := os.ReadFile(records); err != nil || strings.Count(string(b), "\n") != 4 {
		t.Errorf("records: %v\n%s", err, b)
	}
}

// flowlens decode --fields compact prints compact documents; a bad value
// is refused with what to use.
func TestDecodeCompactFields(t *testing.T) {
	capture := filepath.Join("..", "..", "testdata", "ovs", "ovs-sflow.pcap")
	sizes := map[string]int{}
	for _, fields := range []string{"full", "compact"} {
		var stdout, stderr bytes.Buffer
		out := filepath.Join(t.TempDir(), fields+".ndjson")
		if code := run([]string{"decode", "--counters=false", "--fields", fields, "--output", out, capture}, &stdout, &stderr); code != 0 {
			t.Fatalf("--fields %s: exit %d: %s", fields, code, stderr.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if fields == "compact" && strings.Contains(string(b), `"sflow":{`) || !strings.Contains(string(b), `"source":{`) {
			t.Errorf("%s documents: %.300s", fields, b)
		}
		sizes[fields] = len(b)
	}
	if 10*sizes["compact"] >= 7*sizes["full"] {
		t.Errorf("compact %d bytes, full %d", sizes["compact"], sizes["full"])
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"decode", "--fields", "small", "--output", filepath.Join(t.TempDir(), "x"), capture}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "use full") {
		t.Errorf("--fields small: exit %d: %s", code, stderr.String())
	}
}
