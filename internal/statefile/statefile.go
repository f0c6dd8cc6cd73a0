// Package statefile holds what flowlens' state files (the NetFlow/IPFIX
// template cache, the OpenStack API cache, the Elasticsearch spool) share:
// written so that a crash leaves the old version or the new one, never a
// mix, and set aside when found damaged, so that a bad file costs a warning
// instead of the start-up.
package statefile

import (
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
