package elasticsearch

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowlens/flowlens/internal/statefile"
)

// The spool keeps bulk requests on disk while the cluster cannot take
// them: one file per request, named by the request's sequence number, so
// that they are sent again oldest first, also after a restart. A file is
// written to a temporary name, synced and renamed, and removed once every
// document in it is accounted for (indexed, already there, or
// dead-lettered).
//
// File layout: the magic "FLSPOOL1", then four big-endian uint32 — the
// number of documents, the length of the bulk body, the CRC-32 of the
// payload and the payload's length — then the payload: the bulk body
// (action and document lines), gzip-compressed.

const spoolMagic = "FLSPOOL1"
const spoolHeader = len(spoolMagic) + 16

type spoolEntry struct {
	seq   uint64
	size  int64 // bytes on disk
	docs  int
	taken bool // being sent, or being written
}

type spool struct {
	dir    string
	max    int64
	oldest bool // overflow policy: drop the oldest files
	log    *slog.Logger

	mu      sync.Mutex
	entries map[uint64]*spoolEntry
	avail   []uint64 // sorted, not taken
	bytes   int64
	docs    int64
	wake    chan struct{} // closed when an entry becomes available
	maxSeq  uint64

	droppedDocs  uint64 // overflow
	droppedFiles uint64
	corrupt      uint64
	writeErrors  uint64
	diskFull     uint64

	zpool sync.Pool // *gzip.Writer
}

// openSpool reads the directory back: valid files are queued in order,
// corrupt ones are renamed to *.corrupt-TIME and reported, never fatal.
func openSpool(dir string, maxBytes int64, policy string, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: cannot create %s: %w (check output.elasticsearch.spool.dir and permissions)", dir, err)
	}
	s := &spool{dir: dir, max: maxBytes, oldest: policy == DropOldest, log: log,
		entries: map[uint64]*spoolEntry{}, wake: make(chan struct{})}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: cannot read %s: %w", dir, err)
	}
	for _, de := range names {
		name := de.Name()
		path := filepath.Join(dir, name)
		switch {
		case strings.HasSuffix(name, ".tmp"), strings.HasPrefix(name, ".") && strings.Contains(name, ".spool.tmp"):
			os.Remove(path) // a write the last run did not finish (statefile's temporary name, or the old one)
			continue
		case !strings.HasSuffix(name, ".spool"):
			continue
		}
		seq, perr := strconv.ParseUint(strings.TrimSuffix(name, ".spool"), 16, 64)
		docs, size, verr := verifySpoolFile(path)
		if perr != nil || verr != nil {
			if verr == nil {
				verr = errors.New("file name is not a sequence number")
			}
			s.setAside(path, verr)
			continue
		}
		s.entries[seq] = &spoolEntry{seq: seq, size: size, docs: docs}
		s.avail = append(s.avail, seq)
		s.bytes += size
		s.docs += int64(docs)
		s.maxSeq = max(s.maxSeq, seq)
	}
	sort.Slice(s.avail, func(i, j int) bool { return s.avail[i] < s.avail[j] })
	if len(s.avail) > 0 && log != nil {
		log.Info("elasticsearch output: spooled requests found, they will be sent first",
			"dir", dir, "files", len(s.avail), "documents", s.docs, "bytes", s.bytes)
	}
	return s, nil
}

// setAside renames a corrupt file out of the way and reports it.
func (s *spool) setAside(path string, why error) {
	s.corrupt++
	aside, err := statefile.SetAside(path, time.Now())
	if s.log != nil {
		s.log.Warn("elasticsearch output: corrupt spool file moved aside; its documents are not sent (the file can be deleted once looked at)",
			"file", path, "moved_to", aside, "reason", why.Error(), "rename_error", errString(err))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func verifySpoolFile(path string) (docs int, size int64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	docs, _, _, err = parseSpoolFile(b)
	return docs, int64(len(b)), err
}

func parseSpoolFile(b []byte) (docs, rawLen int, payload []byte, err error) {
	if len(b) < spoolHeader || string(b[:len(spoolMagic)]) != spoolMagic {
		return 0, 0, nil, errors.New("bad header")
	}
	h := b[len(spoolMagic):]
	docs = int(binary.BigEndian.Uint32(h))
	rawLen = int(binary.BigEndian.Uint32(h[4:]))
	crc := binary.BigEndian.Uint32(h[8:])
	plen := int(binary.BigEndian.Uint32(h[12:]))
	payload = b[spoolHeader:]
	if len(payload) != plen {
		return 0, 0, nil, fmt.Errorf("truncated: %d payload bytes of %d", len(payload), plen)
	}
	if crc32.ChecksumIEEE(payload) != crc {
		return 0, 0, nil, errors.New("checksum mismatch")
	}
	if docs == 0 || rawLen == 0 {
		return 0, 0, nil, errors.New("no documents")
	}
	return docs, rawLen, payload, nil
}

func (s *spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x.spool", seq))
}

// broadcast wakes every worker waiting for an entry. Called with mu held.
func (s *spool) broadcast() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// waitCh returns a channel closed when an entry next becomes available.
func (s *spool) waitCh() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wake
}

// head returns the sequence number of the oldest entry waiting to be sent.
func (s *spool) head() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.avail) == 0 {
		return 0, false
	}
	return s.avail[0], true
}

func (s *spool) insertAvail(seq uint64) {
	i := sort.Search(len(s.avail), func(i int) bool { return s.avail[i] >= seq })
	s.avail = append(s.avail, 0)
	copy(s.avail[i+1:], s.avail[i:])
	s.avail[i] = seq
}

func (s *spool) removeAvail(seq uint64) {
	i := sort.Search(len(s.avail), func(i int) bool { return s.avail[i] >= seq })
	if i < len(s.avail) && s.avail[i] == seq {
		s.avail = append(s.avail[:i], s.avail[i+1:]...)
	}
}

// put writes c to the spool (replacing the file of the same sequence
// number, if any). When the spool is full (max_bytes, or the disk), the
// overflow policy drops the oldest (or newest) requests, by sequence
// number, among the waiting files and c. put returns the number of
// documents dropped, c's included when it could not be written; the error
// says why a write failed.
func (s *spool) put(c *chunk) (dropped int, err error) {
	data := s.encode(c)
	size := int64(len(data))

	s.mu.Lock()
	old := s.entries[c.seq]
	var oldSize int64
	var oldDocs int
	if old != nil {
		oldSize, oldDocs = old.size, old.docs
	}
	// Make room: the oldest (or newest) of the waiting files and c goes
	// first. Files being sent are not touched.
	var victims []uint64
	dropSelf := false
	for s.bytes-oldSize+size > s.max {
		if len(s.avail) == 0 {
			dropSelf = true
			break
		}
		i := 0
		if !s.oldest {
			i = len(s.avail) - 1
		}
		v := s.avail[i]
		if s.oldest && c.seq < v || !s.oldest && c.seq > v {
			dropSelf = true
			break
		}
		e := s.entries[v]
		s.avail = append(s.avail[:i], s.avail[i+1:]...)
		delete(s.entries, v)
		s.bytes -= e.size
		s.docs -= int64(e.docs)
		s.droppedDocs += uint64(e.docs)
		s.droppedFiles++
		dropped += e.docs
		victims = append(victims, v)
	}
	if dropSelf {
		// Does not fit: drop c. If it replaced a file, that file goes too:
		// c holds what is left of it.
		if old != nil {
			s.removeAvail(c.seq)
			delete(s.entries, c.seq)
			s.bytes -= oldSize
			s.docs -= int64(oldDocs)
			victims = append(victims, c.seq)
		}
		s.droppedDocs += uint64(c.docs())
		s.droppedFiles++
		dropped += c.docs()
		s.mu.Unlock()
		s.remove(victims)
		return dropped, nil
	}
	if old != nil {
		s.removeAvail(c.seq)
	}
	e := &spoolEntry{seq: c.seq, size: size, docs: c.docs(), taken: true}
	s.entries[c.seq] = e
	s.bytes += size - oldSize
	s.docs += int64(e.docs - oldDocs)
	s.maxSeq = max(s.maxSeq, c.seq)
	s.mu.Unlock()
	s.remove(victims)

	err = writeFileSync(s.path(c.seq), data)
	for err != nil && isDiskFull(err) {
		s.mu.Lock()
		s.diskFull++
		s.mu.Unlock()
		if old != nil {
			break // a rewrite only saves room; the previous file is kept below
		}
		// The disk filled up before max_bytes: make room as the overflow
		// policy would, among the waiting files and c.
		n, ok := s.dropForRoom(c.seq)
		if !ok {
			break
		}
		dropped += n
		err = writeFileSync(s.path(c.seq), data)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.bytes -= size
		s.docs -= int64(e.docs)
		if old != nil {
			// The previous version of the file is still there, whole: it
			// holds every document of c (and some delivered since, which
			// will come back as duplicates). Keep it rather than lose c.
			if !isDiskFull(err) {
				s.writeErrors++
			}
			old.taken = false
			s.entries[c.seq] = old
			s.bytes += oldSize
			s.docs += int64(oldDocs)
			s.insertAvail(c.seq)
			s.broadcast()
			return dropped, fmt.Errorf("spool: %w (the previous version of the file is kept)", err)
		}
		delete(s.entries, c.seq)
		if isDiskFull(err) {
			// The policy picks c itself: nothing waiting is older (newer).
			s.droppedDocs += uint64(c.docs())
			s.droppedFiles++
			return dropped + c.docs(), nil
		}
		s.writeErrors++
		return dropped + c.docs(), fmt.Errorf("spool: %w", err)
	}
	e.taken = false
	s.insertAvail(c.seq)
	s.broadcast()
	return dropped, nil
}

// isDiskFull reports whether err says the file system (or the user's quota)
// is full.
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// dropForRoom drops the waiting file the overflow policy gives up first,
// if that is not seq itself: the oldest if older than seq (drop_oldest),
// the newest if newer (drop_newest). Counted as overflow. It returns the
// documents dropped.
func (s *spool) dropForRoom(seq uint64) (int, bool) {
	s.mu.Lock()
	if len(s.avail) == 0 {
		s.mu.Unlock()
		return 0, false
	}
	i := 0
	if !s.oldest {
		i = len(s.avail) - 1
	}
	v := s.avail[i]
	if s.oldest && v >= seq || !s.oldest && v <= seq {
		s.mu.Unlock()
		return 0, false
	}
	s.avail = append(s.avail[:i], s.avail[i+1:]...)
	e := s.entries[v]
	delete(s.entries, v)
	s.bytes -= e.size
	s.docs -= int64(e.docs)
	s.droppedDocs += uint64(e.docs)
	s.droppedFiles++
	s.mu.Unlock()
	s.remove([]uint64{v})
	return e.docs, true
}

func (s *spool) remove(seqs []uint64) {
	for _, v := range seqs {
		os.Remove(s.path(v))
	}
}

// writeFileSync writes a spool file whole or not at all, durably, its
// rename too (statefile).
func writeFileSync(path string, data []byte) error {
	return statefile.WriteFile(path, 0o640, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// encode builds the file content of c.
func (s *spool) encode(c *chunk) []byte {
	var buf bytes.Buffer
	buf.Grow(spoolHeader + len(c.buf)/4)
	buf.Write(make([]byte, spoolHeader))
	zw, _ := s.zpool.Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	} else {
		zw.Reset(&buf)
	}
	zw.Write(c.buf)
	zw.Close()
	s.zpool.Put(zw)
	b := buf.Bytes()
	payload := b[spoolHeader:]
	copy(b, spoolMagic)
	h := b[len(spoolMagic):]
	binary.BigEndian.PutUint32(h, uint32(c.docs()))
	binary.BigEndian.PutUint32(h[4:], uint32(len(c.buf)))
	binary.BigEndian.PutUint32(h[8:], crc32.ChecksumIEEE(payload))
	binary.BigEndian.PutUint32(h[12:], uint32(len(payload)))
	return b
}

// pop takes the oldest available entry and reads it into a chunk from
// get. It returns nil when nothing is available.
func (s *spool) pop(get func() *chunk) *chunk {
	for {
		s.mu.Lock()
		if len(s.avail) == 0 {
			s.mu.Unlock()
			return nil
		}
		seq := s.avail[0]
		s.avail = s.avail[1:]
		e := s.entries[seq]
		e.taken = true
		s.mu.Unlock()

		c := get()
		err := s.read(seq, c)
		if err == nil {
			c.seq, c.spooled = seq, true
			return c
		}
		c.release()
		s.mu.Lock()
		delete(s.entries, seq)
		s.bytes -= e.size
		s.docs -= int64(e.docs)
		s.mu.Unlock()
		s.setAside(s.path(seq), err)
	}
}

func (s *spool) read(seq uint64, c *chunk) error {
	b, err := os.ReadFile(s.path(seq))
	if err != nil {
		return err
	}
	docs, rawLen, payload, err := parseSpoolFile(b)
	if err != nil {
		return err
	}
	zr, err := gzip.NewReader(bytes.NewReader(payload))
	if err != nil {
		return err
	}
	if cap(c.buf) < rawLen {
		c.buf = make([]byte, 0, rawLen)
	}
	c.buf = c.buf[:rawLen]
	if _, err := io.ReadFull(zr, c.buf); err != nil {
		return fmt.Errorf("decompressing: %w", err)
	}
	if n, _ := zr.Read(make([]byte, 1)); n != 0 {
		return errors.New("longer than its header says")
	}
	if err := c.index(); err != nil {
		return err
	}
	if c.docs() != docs {
		return fmt.Errorf("%d documents, header says %d", c.docs(), docs)
	}
	return nil
}

// ack removes a delivered entry.
func (s *spool) ack(seq uint64) {
	s.mu.Lock()
	e := s.entries[seq]
	if e != nil {
		delete(s.entries, seq)
		s.bytes -= e.size
		s.docs -= int64(e.docs)
	}
	s.mu.Unlock()
	if e != nil {
		os.Remove(s.path(seq))
	}
}

// release puts a taken entry back, rewriting it when c lost documents on
// the way (delivered or dead-lettered ones are not sent again).
func (s *spool) release(c *chunk) (dropped int, err error) {
	s.mu.Lock()
	e := s.entries[c.seq]
	if e != nil && e.docs == c.docs() {
		e.taken = false
		s.insertAvail(c.seq)
		s.broadcast()
		s.mu.Unlock()
		return 0, nil
	}
	s.mu.Unlock()
	return s.put(c)
}

// SpoolStats describes the spool.
type SpoolStats struct {
	Files, Documents, Bytes int64
	// DroppedDocuments and DroppedFiles were lost to the overflow policy.
	DroppedDocuments, DroppedFiles uint64
	// Corrupt files were moved aside; WriteErrors are files that could not
	// be written for another reason than a full disk (their documents are
	// counted as dropped by the output).
	Corrupt, WriteErrors uint64
	// DiskFull counts writes that found the disk full (ENOSPC, EDQUOT):
	// the overflow policy then drops files as at max_bytes, counted in
	// DroppedDocuments and DroppedFiles.
	DiskFull uint64
}

func (s *spool) stats() SpoolStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SpoolStats{Files: int64(len(s.entries)), Documents: s.docs, Bytes: s.bytes,
		DroppedDocuments: s.droppedDocs, DroppedFiles: s.droppedFiles, Corrupt: s.corrupt, WriteErrors: s.writeErrors,
		DiskFull: s.diskFull}
}
