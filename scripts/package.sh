#!/usr/bin/env bash
# Builds a Debian package of flowlens: the binary, the systemd units
# (flowlens.socket, flowlens.service), the example configuration as
# /etc/flowlens/flowlens.yaml, shell completions and the docs.
#
#   ./scripts/package.sh                 dist/flowlens_VERSION_ARCH.deb
#   VERSION=1.2.0 ./scripts/package.sh   an explicit version
#
# Install with `apt install ./dist/flowlens_*.deb`: it enables and starts
# flowlens.socket and flowlens.service; upgrades restart the service without
# losing datagrams (the socket stays bound).
set -euo pipefail
cd "$(dirname "$0")/.."

# The toolchain of the tests (scripts/test.sh): its standard library has the
# security fixes Go 1.26.8 lacks.
export GOTOOLCHAIN=${FLOWLENS_GOTOOLCHAIN:-go1.27.3}
VERSION=${VERSION:-0.0.0~git$(date -u +%Y%m%d)}
ARCH=$(dpkg --print-architecture 2>/dev/null || go env GOARCH)
OUT=${OUT:-dist}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/flowlens" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d" "$root/usr/share/doc/flowlens"
CGO_ENABLED=1 go build -ldflags "-s -w -X main.version=$VERSION" -o "$root/usr/bin/flowlens" ./cmd/flowlens
install -m 0644 packaging/systemd/flowlens.socket packaging/systemd/flowlens.service "$root/lib/systemd/system/"
install -m 0640 packaging/flowlens.yaml "$root/etc/flowlens/flowlens.yaml"
"$root/usr/bin/flowlens" completion bash >"$root/usr/share/bash-completion/completions/flowlens"
"$root/usr/bin/flowlens" completion zsh >"$root/usr/share/zsh/vendor-completions/_flowlens"
"$root/usr/bin/flowlens" completion fish >"$root/usr/share/fish/vendor_completions.d/flowlens.fish"
cp README.md BENCHMARKS.md docs/*.md "$root/usr/share/doc/flowlens/"

cat >"$root/DEBIAN/control" <<CONTROL
Package: flowlens
Version: $VERSION
Architecture: $ARCH
Maintainer: flowlens developers <flowlens@localhost>
Depends: libc6
Recommends: openvswitch-switch
Section: net
Priority: optional
Homepage: https://github.com/flowlens/flowlens
Description: flow collector for Open vSwitch and OpenStack (sFlow, NetFlow, IPFIX)
 Receives sFlow v5, NetFlow v5/v9 and IPFIX from Open vSwitch and switches,
 attributes traffic to OpenStack VMs, ports, networks and projects, adds
 geography, and keeps it in an embedded store with a web console, or writes
 it to Elasticsearch/OpenSearch.
CONTROL
echo /etc/flowlens/flowlens.yaml >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	systemctl enable flowlens.socket flowlens.service >/dev/null
	systemctl start flowlens.socket
	# An upgrade restarts flowlens; the socket stays bound: nothing lost.
	systemctl restart flowlens.service
fi
POSTINST
cat >"$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl stop flowlens.service flowlens.socket || true
	systemctl disable flowlens.service flowlens.socket >/dev/null || true
fi
PRERM
cat >"$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
# The data in /var/lib/flowlens is kept; remove it by hand after a purge.
POSTRM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
mkdir -p "$OUT"
deb="$OUT/flowlens_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
