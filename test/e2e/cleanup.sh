#!/usr/bin/env bash
# Remove what a killed flowlens e2e run (test/e2e) left behind: its network namespaces (the
# "hypervisor" <prefix>-hv with OVS, br-int and the veth host ends, and the VMs <prefix>-vmN;
# for TestTwoHypervisors <prefix>-hv1, <prefix>-hv2 and the collector's <prefix>-col),
# the processes running in them (ovsdb-server, ovs-vswitchd, iperf3, the collector), and its
# work directories ${TMPDIR:-/tmp}/flowlens-e2e-<prefix>-*.
#
# usage: sudo test/e2e/cleanup.sh [--force] [--keep-dirs] [PREFIX]
#   PREFIX       fle2e (all runs, default) or one run's prefix, e.g. fle2e123
#   --force      also clean runs whose test process is still alive (e.g. FLOWLENS_E2E_KEEP=1
#                labs are not: their test exited)
#   --keep-dirs  keep the work directories (logs, NDJSON output)
#
# Touches nothing that does not carry the prefix: the test never creates anything in the host's
# network namespace, and never touches a system Open vSwitch.
set -uo pipefail

force=0 keepdirs=0 prefix=fle2e
for a in "$@"; do
  case $a in
    --force) force=1 ;;
    --keep-dirs) keepdirs=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) prefix=$a ;;
  esac
done
case $prefix in fle2e*) ;; *) echo "refusing prefix '$prefix' (must start with fle2e)" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
tmp=${TMPDIR:-/tmp}

# run prefix (fle2e<N>) -> alive? (its work dir's owner.pid is a live e2e test binary)
alive() {
  local run=$1 d pid
  for d in "$tmp"/flowlens-e2e-"$run"-*/; do
    [ -f "$d/owner.pid" ] || continue
    pid=$(cat "$d/owner.pid")
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q 'e2e\.test'; then
      return 0
    fi
  done
  return 1
}

runs=$( { ip netns list 2>/dev/null | awk '{print $1}'; ls -d "$tmp"/flowlens-e2e-* 2>/dev/null | sed 's|.*/flowlens-e2e-||'; } |
        grep -oE "^${prefix}[0-9]*-" | grep -E '^fle2e[0-9]+-$' | sed 's/-$//' | sort -u)
[ -n "$runs" ] || { echo "nothing to clean for prefix $prefix"; exit 0; }

for run in $runs; do
  if [ $force = 0 ] && alive "$run"; then
    echo "$run: its test is still running (use --force to clean it anyway)"
    continue
  fi
  echo "$run: cleaning"
  # 1. processes: in the run's namespaces, or started from its work dir (the collector binary)
  pids=""
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${run}-"); do
    pids="$pids $(ip netns pids "$ns" 2>/dev/null)"
  done
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q "$tmp/flowlens-e2e-$run-"; then
      pids="$pids $p"
    fi
  done
  pids=$(echo "$pids" | tr ' ' '\n' | grep -E '^[0-9]+$' | grep -vx "$$" | sort -u | tr '\n' ' ')
  if [ -n "${pids// /}" ]; then
    echo "  stopping pids: $pids"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null
    for _ in $(seq 30); do
      left=""
      for p in $pids; do [ -e "/proc/$p" ] && left="$left $p"; done
      [ -z "$left" ] && break
      sleep 0.1
    done
    # shellcheck disable=SC2086
    [ -n "$left" ] && { echo "  SIGKILL:$left"; kill -KILL $left 2>/dev/null; }
  fi
  # 2. namespaces (deleting <run>-hv removes br-int, br-ex, ovs-netdev and the veths with it;
  #    deleting <run>-vm6 removes the internal port moved into it)
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${run}-"); do
    echo "  ip netns del $ns"
    ip netns del "$ns"
  done
  # 3. links with the prefix in the host namespace (the test creates none; older layouts might)
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^${run}-"); do
    echo "  ip link del $link"
    ip link del "$link" 2>/dev/null
  done
  # 4. work dirs
  if [ $keepdirs = 0 ]; then
    for d in "$tmp"/flowlens-e2e-"$run"-*; do
      [ -d "$d" ] && { echo "  rm -rf $d"; rm -rf "$d"; }
    done
  fi
done
