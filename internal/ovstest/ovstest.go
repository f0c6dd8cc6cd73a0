// Package ovstest runs a private ovsdb-server, from Debian's
// openvswitch-switch, for tests that need a real Open vSwitch database.
package ovstest

import (
	"os"
	"os/exec"
	"path/filepath"
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

// Start runs ovsdb-server on a socket in a temporary folder, stopped when
// the test ends. The test is skipped when Open vSwitch is not installed.
func Start(t testing.TB) *DB {
	t.Helper()
	server, err := exec.LookPath("ovsdb-server")
	if err != nil {
		server = "/usr/sbin/ovsdb-server"
	}
	if _, err := os.Stat(server); err != nil {
		t.Skip("ovsdb-server not installed (apt-get install openvswitch-switch; scripts/test.sh does it as root)")
	}
	if _, err := os.Stat(Schema); err != nil {
		t.Skip("no " + Schema)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "conf.db")
	if out, err := exec.Command("ovsdb-tool", "create", db, Schema).CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool: %v %s", err, out)
	}
	sock := filepath.Join(dir, "db.sock")
	cmd := exec.Command(server, db, "--remote=punix:"+sock, "--unixctl="+filepath.Join(dir, "ctl"), "--no-chdir",
		"--log-file="+filepath.Join(dir, "ovsdb-server.log"), "--pidfile="+filepath.Join(dir, "pid"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	d := &DB{Socket: sock, t: t}
	d.Vsctl("init")
	return d
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
