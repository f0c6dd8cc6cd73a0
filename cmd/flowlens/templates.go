package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/flowlens/flowlens/internal/decode/netflow"
)

// loadTemplates reads the saved NetFlow/IPFIX templates. A file that cannot
// be read is moved aside and reported, never fatal: the exporters resend
// their templates sooner or later.
func loadTemplates(path string, t *netflow.Templates, log *slog.Logger) {
	if path == "" {
		return
	}
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
	aside := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405"))
	if rerr := os.Rename(path, aside); rerr == nil {
		log.Warn("saved NetFlow/IPFIX templates unreadable: moved aside, starting without them", "file", path, "moved_to", aside, "error", err)
	} else {
		log.Warn("saved NetFlow/IPFIX templates unreadable, starting without them", "file", path, "error", err)
	}
}

// saveTemplates writes the templates through a temporary file and a rename,
// so a crash never leaves a half-written file.
func saveTemplates(path string, t *netflow.Templates) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if err := t.Save(tmp); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// templateLoop expires templates and held data, and saves the templates
// every 5 minutes.
func templateLoop(ctx context.Context, path string, t *netflow.Templates, log *slog.Logger) {
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
				if err := saveTemplates(path, t); err != nil {
					log.Warn("saving NetFlow/IPFIX templates", "error", err)
				}
			}
		}
	}
}
