// Package statefile holds what flowlens' state files (the NetFlow/IPFIX
// template cache, the OpenStack API cache, the Elasticsearch spool) share:
// written so that a crash leaves the old version or the new one, never a
// mix, and set aside when found damaged, so that a bad file costs a warning
// instead of the start-up.
package statefile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// SetAside renames a damaged file to PATH.corrupt-YYYYMMDDTHHMMSSZ (then
// .1, .2… if that is taken), where it stays for a look but is never read
// again. It returns the new name.
func SetAside(path string, now time.Time) (string, error) {
	base := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	aside := base
	// A restart loop can damage the same file twice in one second; an
	// earlier copy is evidence too, so it is never overwritten.
	for i := 1; ; i++ {
		if _, err := os.Lstat(aside); os.IsNotExist(err) {
			break
		}
		aside = fmt.Sprintf("%s.%d", base, i)
	}
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	return aside, nil
}

// RemoveTemps removes the temporary files a WriteFile of path left when the
// process died in it. Call it at start-up, before anything writes path.
func RemoveTemps(path string) {
	old, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+globEscape(filepath.Base(path))+".tmp*"))
	for _, f := range old {
		os.Remove(f)
	}
}

func globEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// WriteFile replaces path with what write writes: into a temporary file in
// the same directory, synced, renamed over path, and the directory synced,
// so that after a crash or a power loss path holds the old content or the
// new, whole.
func WriteFile(path string, perm os.FileMode, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	err = write(tmp)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
		return err
	}
	// Without this the rename itself may not survive a power loss.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// CutTornLine removes an unfinished last line: what a process killed in the
// middle of a batch leaves in a file of lines (they reach the file in
// buffer-sized pieces). f must be open for reading and writing.
// Appending after it would glue the next record to it and make one
// unreadable line of two; cutting it loses only a record that was never
// acknowledged. Readers that follow the file line by line never read past
// the last newline, so the cut does not look like a truncation to them.
// It returns the file's new size and the bytes cut.
func CutTornLine(f *os.File) (size, torn int64, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	size = st.Size()
	if size == 0 || !st.Mode().IsRegular() {
		return size, 0, nil
	}
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		n := int64(len(buf))
		if end < n {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if end == size {
		return size, 0, nil
	}
	if err := f.Truncate(end); err != nil {
		return 0, 0, fmt.Errorf("cutting an unfinished last line: %w", err)
	}
	return end, size - end, nil
}
