package pcapfile

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzReader feeds arbitrary bytes to the reader: it must end in io.EOF or an
// error, never panic, hang or hand out a payload it did not read.
func FuzzReader(f *testing.F) {
	for _, name := range []string{"ovs-sflow.pcap", "ovs-ipfix.pcap", "ovs-netflow.pcap"} {
		b := readFile(f, ovs(name))
		f.Add(b[:min(len(b), 4096)])
	}
	// A pcapng seed with both byte orders, several interfaces and every
	// packet block kind, so the fuzzer starts inside the pcapng paths.
	_, recs := readRawPcap(f, ovs("ovs-netflow.pcap"))
	w := &ngWriter{}
	w.section(binary.LittleEndian)
	w.idb(linkEthernet, 0)
	w.idb(linkRaw, 0, ngOpt{9, []byte{9}}, ngOpt{14, make([]byte, 8)})
	w.epb(0, 1, recs[0].data)
	w.epb(1, 2, recs[1].data[14:])
	w.nrb()
	w.section(binary.BigEndian)
	w.idb(linkSLL2, 96, ngOpt{9, []byte{0x8a}})
	w.spb(append(make([]byte, 20), recs[2].data[14:]...))
	f.Add(w.b.Bytes())
	for _, link := range []uint32{linkNull, linkLoop, linkRaw, linkSLL, linkSLL2, linkIPv6} {
		f.Add(pcapBytes(binary.BigEndian, pcapMagicNano, link, 100, []rawRecord{{data: ipv6UDP("::1", "::2", 1, 2, []byte("abc"), [2]int{0, 8}, [2]int{44, 8})}}))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Every packet consumes at least 12 bytes of input, so this bounds
		// the loop without cutting a legitimate read short.
		for i := 0; i <= len(data)/12+1; i++ {
			d, err := r.Next()
			if err != nil {
				if err2 := r.Close(); err2 != nil {
					t.Fatal(err2)
				}
				return
			}
			if len(d.Payload) > len(data) {
				t.Fatalf("payload of %d bytes from %d bytes of input", len(d.Payload), len(data))
			}
		}
		if _, err := r.Next(); err == nil {
			t.Fatal("reader did not stop")
		}
	})
}
