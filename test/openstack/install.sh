#!/usr/bin/env bash
# Install the Debian 12 packages the real-OpenStack end-to-end test (test/openstack, build tag
# openstack) needs: MariaDB, RabbitMQ, Keystone under uwsgi, neutron-server with ML2/OVS and its
# Open vSwitch agent, OVN (ovn-central, ovn-host) and Open vSwitch, plus the small tools the test
# calls. Idempotent: when every package is installed it does nothing (and does not touch apt).
# Needs root. CI (scripts/test.sh) calls it before
#   go test -tags openstack -v -count=1 ./test/openstack/
#
# The packages' maintainer scripts must neither configure databases/RabbitMQ/Keystone (debconf
# answers below, all "false") nor start system services: the test starts private daemons in its
# own network namespace. Where no /usr/sbin/policy-rc.d exists, one that denies every start
# (exit 101) is put in place for the install and removed afterwards ("invoke-rc.d: policy-rc.d
# denied execution of start" messages are expected). ML2 is in python3-neutron (Debian 12 has no
# neutron-plugin-ml2). No OpenStack CLI: the test talks to the APIs with gophercloud.
set -Eeuo pipefail

pkgs=(keystone neutron-server neutron-openvswitch-agent python3-pymysql uwsgi-core uwsgi-plugin-python3
      mariadb-server rabbitmq-server openvswitch-switch ovn-central ovn-host
      iproute2 iputils-ping ethtool)

missing=()
for p in "${pkgs[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "openstack install: all ${#pkgs[@]} packages present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "openstack install: missing ${missing[*]} and not root" >&2
  exit 1
fi
echo "openstack install: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# flowlens test/openstack/install.sh: no service starts during the install\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
debconf-set-selections <<'SEL'
keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false
neutron-common neutron/configure_db boolean false
neutron-common neutron/configure_rabbit boolean false
neutron-common neutron/configure_ksat boolean false
neutron-common neutron/configure_nova boolean false
dbconfig-common dbconfig-common/dbconfig-install boolean false
SEL
apt-get -o DPkg::Lock::Timeout=900 update -q
apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}"
echo "openstack install: done"
