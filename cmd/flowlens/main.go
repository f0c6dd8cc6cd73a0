// Command flowlens is a flow collector for Open vSwitch and any sFlow
// agent. See `flowlens help`.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `flowlens: flow collector for Open vSwitch (sFlow v5, NetFlow, IPFIX) with a web console

Usage:
  flowlens [run] [--config FILE] [--SETTING=VALUE ...]   collect (the default)
  flowlens demo [--hours 6] [--vms 100] [--dir DIR]      run on a synthetic cloud's traffic: the console without Open vSwitch
  flowlens decode [options] FILE.pcap ...                decode captured sFlow, print NDJSON
  flowlens replay [options] FILE.pcap                    send captured datagrams over UDP (load tests)
  flowlens inventory [--config FILE] [--SETTING=VALUE]  print the OpenStack ports known and where from
  flowlens ovs configure|check [options]                 export sFlow from Open vSwitch to flowlens / show what bridges export
  flowlens ovn configure [options]                       make OVN sample the packets it drops (security groups) to flowlens
  flowlens setup elasticsearch|kibana [--config FILE]    install index templates / import the Kibana dashboard
  flowlens setup kibana --output FILE                    write the Kibana saved objects (NDJSON) to a file
  flowlens geoip update [--force] [--config FILE]        download the free GeoIP databases (DB-IP Lite, CC BY 4.0)
  flowlens console hash-password                         bcrypt hash for console.auth.password_hash
  flowlens config [--effective] [--config FILE]          print the configuration reference / effective values
  flowlens version                                       print the version
  flowlens completion bash|zsh|fish                      shell completion script

Every setting of the configuration file is also a flag (flowlens run -h)
and an environment variable (FLOWLENS_INPUT_SFLOW_LISTEN=...).
Docs: docs/ in the source tree (getting started, configuration, fields).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors that already printed their explanation.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		tuneGC()
		stop := startProfiles(stderr)
		err = cmdRun(args, stderr)
		stop()
	case "demo":
		err = cmdDemo(args, stderr)
	case "decode":
		err = cmdDecode(args, stdout, stderr)
	case "replay":
		err = cmdReplay(args, stdout, stderr)
	case "console":
		err = cmdConsole(args, stdout, stderr)
	case "setup":
		err = cmdSetup(args, stdout, stderr)
	case "geoip":
		err = cmdGeoIP(args, stdout, stderr)
	case "ovs":
		err = cmdOVS(args, stdout, stderr)
	case "ovn":
		err = cmdOVN(args, stdout, stderr)
	case "inventory":
		err = cmdInventory(args, stdout, stderr)
	case "config":
		err = cmdConfig(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
	case "completion":
		err = cmdCompletion(args, stdout, stderr)
	case "__complete":
		err = cmdComplete(args, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "flowlens: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(stderr, "flowlens:", err)
	return 1
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags wraps fs.Parse so that bad flags are a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}
