#!/usr/bin/env bash
# Instructions per op of a Go benchmark, counted by valgrind's callgrind:
# repeatable on a shared, loaded machine, where ns/op is not. The test
# binary runs the benchmark twice, for N1 and N2 iterations; the
# difference of the two totals divided by N2 - N1 is the cost of one op,
# without the set-up (decoding a capture, opening a store) both runs share.
#
# Usage: bench/callgrind.sh PACKAGE BENCHMARK [N1 N2]
#   bench/callgrind.sh ./internal/aggregate '^BenchmarkWrite$' 200 1200
# Prints: BENCHMARK Ir/op. Needs valgrind (apt-get install valgrind). Go's
# asynchronous preemption signals crash callgrind, hence asyncpreemptoff.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pkg=${1:?package}; bench=${2:?benchmark}; n1=${3:-200}; n2=${4:-1200}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go test -c -o "$tmp/t.test" "$pkg")
dir=$(cd "$root" && go list -f '{{.Dir}}' "$pkg")
ir() {
	(cd "$dir" && GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1" \
		"$tmp/t.test" -test.run '^$' -test.bench "$bench" -test.benchtime "${1}x" -test.count 1 >/dev/null 2>"$tmp/vg.$1")
	grep -m1 '^summary:' "$tmp/cg.$1" | awk '{print $2}'
}
a=$(ir "$n1"); b=$(ir "$n2")
awk -v a="$a" -v b="$b" -v n1="$n1" -v n2="$n2" -v name="$bench" 'BEGIN { printf "%s %.0f Ir/op (%d ops: %d Ir, %d ops: %d Ir)\n", name, (b-a)/(n2-n1), n1, a, n2, b }'
