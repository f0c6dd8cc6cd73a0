package elasticsearch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/flowlens/flowlens/internal/statefile"
)

// deadLetter appends the documents the cluster rejected for good (mapping
// and parse errors), one JSON object a line: when, where it was going, the
// status and error the cluster gave, and the document itself.
type deadLetter struct {
	path string
	max  int64

	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	size int64
	errs uint64
	torn int64 // bytes of an unfinished last line cut at open
	// good is the file's size after the last flush that worked; pending
	// the entries written to w since.
	good    int64
	pending uint64
}

// DeadLetterEntry is one line of the dead-letter file.
type DeadLetterEntry struct {
	Time   time.Time `json:"@timestamp"`
	Index  string    `json:"_index"`
	ID     string    `json:"_id"`
	Status int       `json:"status"`
	Error  struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
	// Document is the rejected document as it was sent.
	Document json.RawMessage `json:"document,omitempty"`
	// DocumentText holds a document that is not valid JSON.
	DocumentText string `json:"document_text,omitempty"`
}

func openDeadLetter(path string, maxBytes int64) (*deadLetter, error) {
	d := &deadLetter{path: path, max: maxBytes}
	if err := d.open(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *deadLetter) open() error {
	if err := os.MkdirAll(filepath.Dir(d.path), 0o750); err != nil {
		return fmt.Errorf("dead-letter file: %w (check output.elasticsearch.dead_letter.path)", err)
	}
	f, err := os.OpenFile(d.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("dead-letter file: %w (check output.elasticsearch.dead_letter.path)", err)
	}
	// A run killed while writing leaves half a line; the next entry must
	// not be glued to it.
	size, torn, err := statefile.CutTornLine(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("dead-letter file %s: %w", d.path, err)
	}
	d.f, d.size, d.good, d.pending, d.torn = f, size, size, 0, d.torn+torn
	d.w = bufio.NewWriterSize(f, 64<<10)
	return nil
}

// add writes one rejected bulk item (action and document lines).
func (d *deadLetter) add(now time.Time, item []byte, status int, errType, reason string) {
	e := DeadLetterEntry{Time: now.UTC(), Status: status}
	e.Error.Type, e.Error.Reason = errType, reason
	action, doc, _ := bytes.Cut(item, []byte("\n"))
	doc = bytes.TrimRight(doc, "\n")
	var a map[string]struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
	}
	if json.Unmarshal(action, &a) == nil {
		for _, v := range a {
			e.Index, e.ID = v.Index, v.ID
		}
	}
	if json.Valid(doc) {
		e.Document = doc
	} else {
		e.DocumentText = string(doc)
	}
	line, err := json.Marshal(&e)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil || d.w == nil {
		d.errs++
		return
	}
	if d.max > 0 && d.size+int64(len(line))+1 > d.max && d.size > 0 {
		d.rotate()
	}
	if d.w == nil {
		d.errs++
		return
	}
	line = append(line, '\n')
	if _, err := d.w.Write(line); err != nil {
		d.failed(1)
		return
	}
	d.size += int64(len(line))
	d.pending++
}

// failed counts the entries a failed write lost (those still buffered, and
// extra more) and starts again from the last flush that worked. A
// bufio.Writer refuses everything after its first error, so without this
// one full disk would stop the dead-letter file until the next start; and
// the cut leaves no half entry for the next ones to be glued to. Called
// with mu held.
func (d *deadLetter) failed(extra uint64) {
	d.errs += d.pending + extra
	d.pending = 0
	d.f.Truncate(d.good) // appends go to the new end (O_APPEND)
	d.w.Reset(d.f)
	d.size = d.good
}

// rotate keeps one previous file, Path.1. Called with mu held.
func (d *deadLetter) rotate() {
	if d.w.Flush() != nil {
		d.failed(0)
	}
	d.f.Close()
	d.w, d.f = nil, nil
	os.Rename(d.path, d.path+".1")
	if err := d.open(); err != nil {
		d.errs++
	}
}

func (d *deadLetter) flush() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w == nil {
		return
	}
	if d.w.Flush() != nil {
		d.failed(0)
		return
	}
	d.good, d.pending = d.size, 0
}

func (d *deadLetter) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w == nil {
		return nil
	}
	err := d.w.Flush()
	if err != nil {
		d.failed(0)
	}
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	d.w, d.f = nil, nil
	return err
}

func (d *deadLetter) errors() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.errs
}
