package main

import (
	"log/slog"
	"net"
	"os"
)

// notifySystemd tells systemd (Type=notify) that flowlens is ready or
// stopping, so that `systemctl start` returns once the sockets are read
// and a restart's new process is started only after the old one stopped.
// Without NOTIFY_SOCKET (not under systemd) it does nothing.
func notifySystemd(log *slog.Logger, state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if path[0] == '@' { // abstract namespace
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err == nil {
		_, err = c.Write([]byte(state))
		c.Close()
	}
	if err != nil {
		log.Warn("could not notify systemd", "state", state, "error", err)
	}
}
