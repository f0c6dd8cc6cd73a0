package netflow

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/flowlens/flowlens/internal/statefile"
)

// LoadFile restores the templates saved at path (input.netflow.template_file;
// empty: nothing to do). A file that cannot be read is moved aside and
// reported, never fatal: the exporters resend their templates sooner or
// later, and the next save writes a new file.
func (t *Templates) LoadFile(path string, log *slog.Logger) {
	if path == "" {
		return
	}
	statefile.RemoveTemps(path)
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return
	}
	if err == nil {
		err = t.Load(f)
		f.Close()
		if err == nil {
			log.Info("NetFlow/IPFIX templates restored", "file", path, "templates", t.Stats().Templates)
			return
		}
	}
	const what = "until the exporters send their templates again (IPFIX/v9 data that arrives before is held, then dropped and counted); " +
		"a new file is saved every 5 minutes and at shutdown"
	aside, rerr := statefile.SetAside(path, time.Now())
	if rerr != nil {
		log.Warn("saved NetFlow/IPFIX templates unreadable and could not be moved aside: starting without them "+what+
			"; check the permissions of input.netflow.template_file and its directory",
			"file", path, "error", err, "rename_error", rerr)
		return
	}
	log.Warn("saved NetFlow/IPFIX templates unreadable: moved aside, starting without them "+what+
		"; the moved file can be deleted", "file", path, "moved_to", aside, "error", err)
}

// SaveFile replaces the file as a whole: a crash while saving leaves the
// previous file.
func (t *Templates) SaveFile(path string) error {
	return statefile.WriteFile(path, 0o640, t.Save)
}

// Maintain expires templates and held data every 5 s, and saves the
// templates to path (if not empty) every 5 minutes, until ctx ends.
func (t *Templates) Maintain(ctx context.Context, path string, log *slog.Logger) {
	expire := time.NewTicker(5 * time.Second)
	defer expire.Stop()
	lastSave := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-expire.C:
			if ex := t.Expire(now); ex.PendingSets > 0 {
				log.Warn("NetFlow/IPFIX data dropped: its template never came", "sets", ex.PendingSets)
			}
			if path != "" && now.Sub(lastSave) >= 5*time.Minute {
				lastSave = now
				if err := t.SaveFile(path); err != nil {
					log.Warn("saving NetFlow/IPFIX templates", "error", err)
				}
			}
		}
	}
}
