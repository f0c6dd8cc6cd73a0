//go:build openstack

// Package openstack is flowlens's end-to-end test against a real OpenStack: Keystone and
// Neutron (ML2/OVS with the openvswitch firewall driver and its agent) from Debian 12's
// packages, with MariaDB, RabbitMQ and a private userspace-datapath Open vSwitch, all in a
// network namespace of the test's own. Networks, subnets, security groups and ports are
// created through the real APIs (gophercloud); "VMs" are namespaces plugged as os-vif does;
// the real agent binds them. The real flowlens binary reads Neutron's API and OVSDB and the
// sFlow of br-int. See docs/e2e-openstack.md.
//
//	sudo go test -tags openstack -v -count=1 -timeout 20m ./test/openstack/
package openstack

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// helperEnv selects a helper mode of the test binary, run inside a VM's namespace.
const helperEnv = "FLOS_HELPER"

// activeLab is torn down on SIGINT/SIGTERM (t.Cleanup does not run then).
var activeLab atomic.Pointer[Lab]

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
	case "tcp-serve":
		os.Exit(helperTCPServe(os.Args[1:]))
	case "tcp-send":
		os.Exit(helperTCPSend(os.Args[1:]))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "openstack: got %v, tearing the lab down\n", s)
		if l := activeLab.Load(); l != nil {
			l.failed.Store(true) // print the logs
			l.teardown()
			fmt.Fprintf(os.Stderr, "openstack: lab removed\n")
		}
		os.Exit(1)
	}()
	os.Exit(m.Run())
}

// helperTCPServe listens on 0.0.0.0:PORT for each argument and reads every connection to its
// end (a TCP sink), until killed.
func helperTCPServe(ports []string) int {
	for _, p := range ports {
		ln, err := net.Listen("tcp", "0.0.0.0:"+p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tcp-serve:", err)
			return 1
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					n, _ := io.Copy(io.Discard, c)
					fmt.Printf("tcp-serve %s: %s sent %d bytes\n", ln.Addr(), c.RemoteAddr(), n)
				}()
			}
		}()
	}
	fmt.Println("tcp-serve: listening")
	select {}
}

// helperTCPSend ADDR BYTES TIMEOUT connects to ADDR within TIMEOUT and sends BYTES bytes.
// Exit status 0: sent; 3: could not connect (e.g. the security group dropped the SYNs).
func helperTCPSend(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: tcp-send ADDR BYTES TIMEOUT")
		return 2
	}
	n, _ := strconv.Atoi(args[1])
	timeout, _ := time.ParseDuration(args[2])
	c, err := net.DialTimeout("tcp", args[0], timeout)
	if err != nil {
		fmt.Println("tcp-send: connect:", err)
		return 3
	}
	defer c.Close()
	buf := make([]byte, 32<<10)
	sent := 0
	for sent < n {
		k, err := c.Write(buf[:min(len(buf), n-sent)])
		sent += k
		if err != nil {
			fmt.Println("tcp-send: write:", err)
			return 1
		}
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, c)
	fmt.Printf("tcp-send: sent %d bytes to %s\n", sent, args[0])
	return 0
}

// requireRoot skips the test unless it can build the lab.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Getenv("SKIP_OPENSTACK") == "1" {
		t.Skip("SKIP_OPENSTACK=1: the real-OpenStack end-to-end test is skipped")
	}
	if os.Geteuid() != 0 {
		t.Skip("the real-OpenStack end-to-end test needs root (namespaces, Open vSwitch, MariaDB, RabbitMQ): sudo go test -tags openstack ./test/openstack/")
	}
}
