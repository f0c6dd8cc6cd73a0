package main

import (
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestNotifySystemd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	notifySystemd(slog.New(slog.DiscardHandler), "READY=1\nSTATUS=collecting")
	buf := make([]byte, 256)
	l.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := l.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1\nSTATUS=collecting" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
	// Not under systemd: nothing to do, nothing logged.
	t.Setenv("NOTIFY_SOCKET", "")
	notifySystemd(slog.New(slog.DiscardHandler), "READY=1")
}
