#!/usr/bin/env bash
# Install what the flowlens e2e test (test/e2e, build tag e2e) needs on Debian 12, and
# OVN's schemas and ovn-nbctl for the OVN drop-sampling tests (internal/enrich/ovn,
# flowlens ovn configure), which skip without them.
# Idempotent: installs only when a tool is missing. Needs root. CI calls this before
#   go test -tags e2e -v -count=1 ./test/e2e/
# Without systemd the openvswitch-switch postinst prints
#   "invoke-rc.d: policy-rc.d denied execution of start" - harmless: the test starts its own
#   private ovsdb-server/ovs-vswitchd and never uses the system OVS.
set -Eeuo pipefail

need=()
for t in ovs-vsctl:openvswitch-switch ovsdb-server:openvswitch-switch ovs-vswitchd:openvswitch-switch \
         ip:iproute2 iperf3:iperf3 ping:iputils-ping ethtool:ethtool softflowd:softflowd \
         softflowctl:softflowd ovn-northd:ovn-central ovn-nbctl:ovn-common; do
  cmd=${t%%:*} pkg=${t#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ]; then
    need+=("$pkg")
  fi
done
if [ ${#need[@]} -eq 0 ]; then
  echo "e2e install: all tools present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "e2e install: missing ${need[*]} and not root" >&2
  exit 1
fi
# shellcheck disable=SC2207
pkgs=($(printf '%s\n' "${need[@]}" | sort -u))
echo "e2e install: apt-get install ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# iperf3's postinst may ask (debconf) whether to start a daemon: noninteractive answers "no".
apt-get install -y -q --no-install-recommends "${pkgs[@]}"
