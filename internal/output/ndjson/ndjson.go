// Package ndjson writes records as newline-delimited ECS JSON to standard
// output or to a file rotated by size and age.
package ndjson

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/pipeline"
	"github.com/flowlens/flowlens/internal/statefile"
	"golang.org/x/sys/unix"
)

// Config is the NDJSON output configuration.
type Config struct {
	// Path is the file to write, "-" for standard output, "" to disable.
	Path string `yaml:"path"`
	// Flows and Counters choose the record kinds written.
	Flows    bool `yaml:"flows"`
	Counters bool `yaml:"counters"`
	// RotateSize rotates the file when it reaches this many bytes (0: never).
	RotateSize bytesize.Size `yaml:"rotate_size"`
	// RotateInterval rotates the file when it is this old (0: never).
	RotateInterval time.Duration `yaml:"rotate_interval"`
	// Keep is how many rotated files to keep (0: all).
	Keep int `yaml:"keep"`
	// Aggregate makes the pipeline put an aggregator in front of this output.
	Aggregate bool `yaml:"aggregate"`
	// Fields of flow documents: full or compact (ecs.FieldsFull,
	// ecs.FieldsCompact); "" is full.
	Fields string `yaml:"fields"`
}

// Validate checks the settings YAML types do not.
func (c Config) Validate() error {
	_, err := c.encoder()
	return err
}

func (c Config) encoder() (func([]byte, *flow.Record) []byte, error) {
	return ecs.FlowEncoder("output.ndjson.fields", c.Fields)
}

// Writer is the output. Write is called from one goroutine.
//
// A batch is acknowledged when Write returns: its lines are then in the
// operating system's hands, so they survive the process being killed
// (SIGKILL, a crash), though not a power loss (the file is not synced).
type Writer struct {
	cfg     Config
	f       *os.File
	w       *bufio.Writer
	size    int64
	opened  time.Time
	buf     []byte
	now     func() time.Time
	rotated int
	torn    int64
	good    int64 // the file's size after the last batch written whole
	// handed is the offset up to which the file was handed to writeback
	// (handOver); -1 when the path is not a regular file (a FIFO).
	handed int64
	encode func([]byte, *flow.Record) []byte

	// A second goroutine encodes half of each large batch: JSON encoding
	// is most of this output's work, and one goroutine alone is what
	// limits it (BENCHMARKS.md section 2).
	half     chan []flow.Record
	encoded  chan []byte
	stopOnce sync.Once
}

// bufSize is the buffer for counter lines and small batches. Encoded
// flows larger than it go to the file straight from the encoding buffer
// (bufio writes a chunk larger than its free space without copying it
// when it holds nothing): a 256 KiB buffer copied every byte once more.
const bufSize = 16 << 10

// parallelMin is the smallest batch whose flows are encoded in two halves:
// below it the hand-off costs more than it saves.
const parallelMin = 32

// encodeFlows appends flows as NDJSON lines to b.
func (w *Writer) encodeFlows(b []byte, flows []flow.Record) []byte {
	for i := range flows {
		b = w.encode(b, &flows[i])
		b = append(b, '\n')
	}
	return b
}

// encoder encodes the halves it is given into a buffer of its own, which
// it reuses once the next half arrives (Write has written the previous one
// by then).
func (w *Writer) encoder() {
	var buf []byte
	for flows := range w.half {
		buf = w.encodeFlows(buf[:0], flows)
		w.encoded <- buf
	}
}

// New opens the destination.
func New(cfg Config) (*Writer, error) {
	encode, err := cfg.encoder()
	if err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, now: time.Now, buf: make([]byte, 0, 64<<10), encode: encode}
	if runtime.GOMAXPROCS(0) > 1 {
		w.half, w.encoded = make(chan []flow.Record), make(chan []byte)
		go w.encoder()
	}
	if cfg.Path == "-" {
		w.w = bufio.NewWriterSize(os.Stdout, bufSize)
		return w, nil
	}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	if dir := filepath.Dir(w.cfg.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("ndjson output: cannot create directory %s: %w", dir, err)
		}
	}
	f, err := os.OpenFile(w.cfg.Path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("ndjson output: cannot open %s: %w (check output.ndjson.path and permissions)", w.cfg.Path, err)
	}
	size, torn, err := statefile.CutTornLine(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("ndjson output: %s: %w", w.cfg.Path, err)
	}
	w.torn += torn
	w.f, w.size, w.good, w.opened = f, size, size, w.now()
	w.handed = size &^ (4<<10 - 1)
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		w.handed = -1
	}
	w.w = bufio.NewWriterSize(f, bufSize)
	return nil
}

// TornBytes is the size of the unfinished last lines cut when the file was
// opened (statefile.CutTornLine): non-zero after the previous run was killed
// while writing.
func (w *Writer) TornBytes() int64 { return w.torn }

// Name implements pipeline.Output.
func (w *Writer) Name() string { return "ndjson" }

// Write implements pipeline.Output. Each batch is flushed, so a reader
// following the file sees records within the batch interval. A batch is
// written whole or not at all: when a write fails (a full disk), the file
// is cut back to the previous batch, Write returns the error (the pipeline
// counts the batch as failed), and the next batch is tried afresh.
func (w *Writer) Write(b *pipeline.Batch) error {
	if err := w.write(b); err != nil {
		w.undo()
		return err
	}
	w.good = w.size
	w.handOver()
	return w.maybeRotate()
}

// cacheChunk is how much of the file is handed to writeback at a time.
const cacheChunk = 8 << 20

// handOver starts writeback of each cacheChunk as it is complete and drops
// from the page cache the one written two chunks before, if it is on disk
// by then (FADV_DONTNEED leaves dirty pages alone, and nothing here
// waits). A file written at hundreds of MB/s would otherwise fill the
// page cache, pushing out what other programs (the store) keep there, and
// every new page costs the kernel more than one it freed a moment ago: on
// this kind of machine writes slowed five-fold once ~3 GB were cached
// (BENCHMARKS.md section 9).
func (w *Writer) handOver() {
	if w.f == nil || w.handed < 0 {
		return
	}
	fd := int(w.f.Fd())
	for w.size-w.handed >= cacheChunk {
		unix.SyncFileRange(fd, w.handed, cacheChunk, unix.SYNC_FILE_RANGE_WRITE)
		if w.handed >= 2*cacheChunk {
			unix.Fadvise(fd, w.handed-2*cacheChunk, cacheChunk, unix.FADV_DONTNEED)
		}
		w.handed += cacheChunk
	}
}

func (w *Writer) write(b *pipeline.Batch) error {
	if w.cfg.Flows && w.half != nil && len(b.Flows) >= parallelMin {
		n := len(b.Flows) / 2
		w.half <- b.Flows[n:]
		w.buf = w.encodeFlows(w.buf[:0], b.Flows[:n])
		second := <-w.encoded
		if err := w.chunk(w.buf); err != nil {
			return err
		}
		if err := w.chunk(second); err != nil {
			return err
		}
	} else if w.cfg.Flows {
		w.buf = w.encodeFlows(w.buf[:0], b.Flows)
		if err := w.chunk(w.buf); err != nil {
			return err
		}
	}
	if w.cfg.Counters {
		for i := range b.Counters {
			if err := w.line(ecs.AppendCounter(w.buf[:0], &b.Counters[i])); err != nil {
				return err
			}
		}
	}
	return w.w.Flush()
}

// undo drops what a failed Write left: a bufio.Writer refuses everything
// after its first error, and part of the batch (maybe half a line) may be
// in the file.
func (w *Writer) undo() {
	if w.f == nil {
		w.w.Reset(os.Stdout)
		return
	}
	w.f.Truncate(w.good) // appends go to the new end (O_APPEND)
	w.w.Reset(w.f)
	w.size = w.good
	if w.handed > 0 {
		w.handed = min(w.handed, w.good&^(4<<10-1))
	}
}

// chunk writes whole lines.
func (w *Writer) chunk(b []byte) error {
	n, err := w.w.Write(b)
	w.size += int64(n)
	return err
}

func (w *Writer) line(b []byte) error {
	b = append(b, '\n')
	w.buf = b[:0] // keep the grown buffer
	n, err := w.w.Write(b)
	w.size += int64(n)
	return err
}

func (w *Writer) maybeRotate() error {
	if w.f == nil {
		return nil
	}
	if (w.cfg.RotateSize <= 0 || w.size < int64(w.cfg.RotateSize)) &&
		(w.cfg.RotateInterval <= 0 || w.now().Sub(w.opened) < w.cfg.RotateInterval) {
		return nil
	}
	return w.Rotate()
}

// Rotate closes the current file, renames it with a timestamp and opens a
// new one.
func (w *Writer) Rotate() error {
	if w.f == nil {
		return nil
	}
	if err := w.w.Flush(); err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	stamp := w.now().UTC().Format("20060102T150405")
	name := w.cfg.Path + "." + stamp
	for i := 1; ; i++ {
		if _, err := os.Stat(name); os.IsNotExist(err) {
			break
		}
		name = fmt.Sprintf("%s.%s.%d", w.cfg.Path, stamp, i)
	}
	if err := os.Rename(w.cfg.Path, name); err != nil {
		return fmt.Errorf("ndjson output: rotating %s: %w", w.cfg.Path, err)
	}
	w.rotated++
	w.prune()
	return w.open()
}

// prune removes the oldest rotated files beyond Keep.
func (w *Writer) prune() {
	if w.cfg.Keep <= 0 {
		return
	}
	old, _ := filepath.Glob(w.cfg.Path + ".2*")
	var files []string
	for _, f := range old {
		if !strings.HasSuffix(f, ".tmp") {
			files = append(files, f)
		}
	}
	sort.Strings(files) // timestamps sort by time
	for len(files) > w.cfg.Keep {
		os.Remove(files[0])
		files = files[1:]
	}
}

// Close flushes and closes the output.
func (w *Writer) Close() error {
	if w.half != nil {
		w.stopOnce.Do(func() { close(w.half) })
	}
	err := w.w.Flush()
	if w.f != nil {
		if cerr := w.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
