#!/usr/bin/env bash
# CI for the web console, from any directory:
#   1. Debian's Chromium (apt-get, as root) when /usr/bin/chromium is missing,
#   2. npm ci (exact versions from package-lock.json),
#   3. npm run build, and a check that the committed build in
#      internal/console/assets/dist is byte-identical to the fresh one
#      (someone changed web/ and forgot to rebuild and commit),
#   4. npm test: headless Chromium against a mock API; also against a real
#      flowlens when FLOWLENS_URL is set, and against flowlens demo (a
#      synthetic OpenStack cloud) when FLOWLENS_DEMO_URL is set,
#   5. says where the layout test's screenshots are (one per view at 800, 1280
#      and 1920 px: test-results/screenshots/VIEW-WIDTH.png) and how many, also
#      when a test failed (scripts/test.sh keeps them as CI artifacts).
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive

step() { printf '\n=== web: %s\n' "$*"; }

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  step "installing chromium (Debian package)"
  if [ "$(id -u)" != 0 ]; then
    echo "chromium is missing: sudo apt-get install -y chromium" >&2
    exit 1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

node_ok=$(node -e 'const [a,b]=process.versions.node.split(".").map(Number); console.log(a>20||(a===20&&b>=19)?1:0)')
if [ "$node_ok" != 1 ]; then
  echo "Node.js $(node --version) is too old for Vite 7: need 20.19 or newer" >&2
  exit 1
fi

step "npm ci"
npm ci --no-audit --no-fund --loglevel=error

DIST=../internal/console/assets/dist
committed=$(mktemp -d)
trap 'rm -rf "$committed"' EXIT
if [ -d "$DIST" ]; then cp -a "$DIST/." "$committed/"; fi

step "npm run build"
npm run build

step "committed build is up to date"
if ! diff -r "$committed" "$DIST" >/dev/null; then
  diff -rq "$committed" "$DIST" || true
  echo "internal/console/assets/dist differs from a fresh build of web/:" >&2
  echo "run 'npm run build' in web/ and commit internal/console/assets/dist" >&2
  exit 1
fi
echo "internal/console/assets/dist matches the sources"

step "npm test (headless Chromium)"
rc=0
npm test || rc=$?

step "screenshots"
shots=$PWD/test-results/screenshots
n=$(find "$shots" -maxdepth 1 -name '*.png' 2>/dev/null | wc -l)
echo "$n screenshots (each view at 800, 1280 and 1920 px) in $shots"
if [ "$rc" = 0 ] && [ "$n" = 0 ]; then
  echo "the layout test left no screenshot in $shots" >&2
  exit 1
fi
exit "$rc"
