#!/usr/bin/env bash
# Remove what a killed real-OpenStack end-to-end run (test/openstack, build tag openstack) left
# behind: the processes in its network namespaces (MariaDB, RabbitMQ and epmd, Keystone's uwsgi,
# neutron-server, the Open vSwitch agent and its privsep helpers, ovsdb-server, ovs-vswitchd,
# OVN, flowlens, the VM helpers), the namespaces <prefix>-host and <prefix>-flos-vmN, and the work
# dirs ${TMPDIR:-/tmp}/flowlens-os-<prefix>-* (and /tmp/flowlens-os-<prefix>-*).
#
# usage: sudo test/openstack/cleanup.sh [--force] [--keep-dirs] [PREFIX]
#   PREFIX       flos (all runs, default) or one run's prefix, e.g. flos123
#   --force      also clean runs whose test process is still alive
#   --keep-dirs  keep the work dirs (logs, NDJSON output)
# The test itself tears everything down at its end, on failure, and on SIGINT/SIGTERM; this is
# for SIGKILL. It touches nothing outside the run's namespaces and work dirs.
set -uo pipefail
force=0 keepdirs=0 prefix=flos
for a in "$@"; do
  case $a in
    --force) force=1 ;;
    --keep-dirs) keepdirs=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) prefix=$a ;;
  esac
done
case $prefix in flos*) ;; *) echo "refusing prefix '$prefix' (must start with flos)" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
dirs() { ls -d "${TMPDIR:-/tmp}"/flowlens-os-"$1"-* /tmp/flowlens-os-"$1"-* 2>/dev/null | sort -u; }
alive() { # a run's test binary is still running
  local d pid
  for d in $(dirs "$1"); do
    [ -f "$d/owner.pid" ] || continue
    pid=$(cat "$d/owner.pid")
    [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q 'openstack\.test' && return 0
  done
  return 1
}
runs=$( { ip netns list 2>/dev/null | awk '{print $1}'; dirs "$prefix" | sed 's|.*/flowlens-os-||'; } |
        grep -oE "^${prefix}[0-9]*-" | grep -E '^flos[0-9]+-$' | sed 's/-$//' | sort -u)
[ -n "$runs" ] || { echo "nothing to clean for prefix $prefix"; exit 0; }
for run in $runs; do
  if [ $force = 0 ] && alive "$run"; then
    echo "$run: its test is still running (--force to clean it anyway)"; continue
  fi
  echo "$run: cleaning"
  nss=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${run}-")
  for sig in TERM KILL; do
    pids=""
    for ns in $nss; do pids="$pids $(ip netns pids "$ns" 2>/dev/null)"; done
    pids=$(echo $pids)
    [ -n "$pids" ] || break
    echo "  SIG$sig: $pids"
    # shellcheck disable=SC2086
    kill -$sig $pids 2>/dev/null
    for _ in $(seq 25); do
      left=""; for ns in $nss; do left="$left$(ip netns pids "$ns" 2>/dev/null)"; done
      [ -z "$left" ] && break; sleep 0.2
    done
  done
  for ns in $nss; do echo "  ip netns del $ns"; ip netns del "$ns"; done
  if [ $keepdirs = 0 ]; then
    for d in $(dirs "$run"); do echo "  rm -rf $d"; rm -rf "$d"; done
  fi
done
