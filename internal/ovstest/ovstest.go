// Package ovstest runs a private ovsdb-server, from Debian's
// openvswitch-switch, for tests that need a real Open vSwitch database.
package ovstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Schema is where Debian installs the Open_vSwitch database schema.
const Schema = "/usr/share/openvswitch/vswitch.ovsschema"

// DB is a running private database.
type DB struct {
	Socket string // unix socket path
	t      testing.TB
}

// Start runs ovsdb-server with Open vSwitch's schema on a socket in a
// temporary folder, stopped when the test ends. The test is skipped when
// Open vSwitch is not installed.
func Start(t testing.TB) *DB {
	t.Helper()
	endpoint := Server(t, Schema, false, "openvswitch-switch")
	d := &DB{Socket: strings.TrimPrefix(endpoint, "unix:"), t: t}
	d.Vsctl("init")
	return d
}

// Server runs ovsdb-server with the schema at path (OVN's, for one) and
// returns its endpoint: a unix socket, or with tcp a free high port of
// 127.0.0.1 (never OVN's 6641/6642, where a real OVN may run). It is
// stopped when the test ends; the test is skipped when ovsdb-server or
// the schema is missing (pkg names the Debian package that ships it).
func Server(t testing.TB, schema string, tcp bool, pkg string) string {
	t.Helper()
	server, err := exec.LookPath("ovsdb-server")
	if err != nil {
		server = "/usr/sbin/ovsdb-server"
	}
	if _, err := os.Stat(server); err != nil {
		t.Skip("ovsdb-server not installed (apt-get install openvswitch-switch; scripts/test.sh does it as root)")
	}
	if _, err := os.Stat(schema); err != nil {
		t.Skip("no " + schema + " (apt-get install " + pkg + "; scripts/test.sh does it as root)")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "conf.db")
	if out, err := exec.Command("ovsdb-tool", "create", db, schema).CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool: %v %s", err, out)
	}
	sock := filepath.Join(dir, "db.sock")
	remote, endpoint := "punix:"+sock, "unix:"+sock
	if tcp {
		// A port the kernel just gave out; ovsdb-server binds it at once.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		remote, endpoint = fmt.Sprintf("ptcp:%d:127.0.0.1", port), fmt.Sprintf("tcp:127.0.0.1:%d", port)
	}
	cmd := exec.Command(server, db, "--remote="+remote, "--unixctl="+filepath.Join(dir, "ctl"), "--no-chdir",
		"--log-file="+filepath.Join(dir, "ovsdb-server.log"), "--pidfile="+filepath.Join(dir, "pid"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 200; i++ {
		if exec.Command("ovsdb-client", "--timeout=1", "list-dbs", endpoint).Run() == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return endpoint
}

// WaitFor polls cond for up to 10 s, and fails the test if it stays false.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Vsctl runs ovs-vsctl against the database without waiting for a switch.
func (d *DB) Vsctl(args ...string) string {
	d.t.Helper()
	out, err := exec.Command("ovs-vsctl", append([]string{"--db=unix:" + d.Socket, "--no-wait"}, args...)...).CombinedOutput()
	if err != nil {
		d.t.Fatalf("ovs-vsctl %v: %v %s", args, err, out)
	}
	return string(out)
}
