#!/usr/bin/env bash
# bench/callgrind-sidecar.sh: instructions (callgrind's Ir) per request of
# the in-process benchmarks in internal/sidecar, which repeat from run to run
# where wall-clock time on a shared machine does not.
#
#   direct   BenchmarkUpstreamDirect: the benchmark's client calls the
#            upstream itself (with the Authorization header the sidecar
#            would add)
#   bearer   BenchmarkSidecarBearer: client -> sidecar -> upstream, token
#            from the cache
#   taap     BenchmarkSidecarTAAP: the same plus one TAAP PoP (RS256)
#
# Each runs the whole process (client, sidecar and upstream share it) with
# N1 and N2 iterations (-benchtime Nx); per request = (total(N2) -
# total(N1)) / (N2 - N1), which cancels start-up, the token fetch and the
# first request. bearer minus direct is what the sidecar adds per request:
# its HTTP server, its pipeline, its transport. One P (-test.cpu 1), so the
# goroutines run in one order; async preemption off (its signals crash
# callgrind). GC=on keeps the collector (its cost follows the allocation
# rate, which is part of what is measured); GC=off leaves it out.
#   N1=200 N2=1000 (bearer, direct)  TAAP_N1=20 TAAP_N2=60
#   REPEAT=3  medians of that many runs
#   GC=on|off (default on)
#   TESTBIN=path  an already built `go test -c` binary of internal/sidecar,
#                 e.g. one built from an older commit (a benchmark it lacks
#                 is reported as n/a)
#   BENCHES="direct bearer taap"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N1=${N1:-200}
N2=${N2:-1000}
TAAP_N1=${TAAP_N1:-20}
TAAP_N2=${TAAP_N2:-60}
REPEAT=${REPEAT:-3}
GC=${GC:-on}
BENCHES=${BENCHES:-direct bearer taap}
command -v valgrind >/dev/null || { echo "callgrind-sidecar.sh: valgrind is not installed" >&2; exit 1; }
case $GC in on) GOGCV=100 ;; off) GOGCV=off ;; *) echo "GC=$GC: want on or off" >&2; exit 1 ;; esac
WORK=$(mktemp -d "${TMPDIR:-/tmp}/oauth-injector-callgrind.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
BIN=${TESTBIN:-}
if [[ -z $BIN ]]; then
  BIN=$WORK/sidecar.test
  CGO_ENABLED=0 go test -c -o "$BIN" ./internal/sidecar/
fi
BIN=$(realpath "$BIN")

bench_name() {
  case $1 in
    direct) echo BenchmarkUpstreamDirect ;;
    bearer) echo BenchmarkSidecarBearer ;;
    taap) echo BenchmarkSidecarTAAP ;;
    *) echo "unknown benchmark $1" >&2; exit 1 ;;
  esac
}

total() { # bench iterations -> total Ir of the run, or empty when the binary lacks the benchmark
  local out=$WORK/$1-$2
  (cd internal/sidecar && GOGC=$GOGCV GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$out.cg" \
    "$BIN" -test.run '^$' -test.bench "^$(bench_name "$1")\$" -test.benchtime "$2x" -test.cpu 1 >"$out.log" 2>&1) ||
    { cat "$out.log" >&2; exit 1; }
  grep -q "^$(bench_name "$1")" "$out.log" || return 0
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out.log"
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END{ if (NR) print v[int((NR+1)/2)] }'; }

echo "binary: $BIN; GOGC=$GOGCV; medians of $REPEAT runs"
for b in $BENCHES; do
  n1=$N1 n2=$N2
  [[ $b == taap ]] && n1=$TAAP_N1 n2=$TAAP_N2
  vals=""
  for _ in $(seq 1 "$REPEAT"); do
    a=$(total "$b" "$n1")
    [[ -n $a ]] || break
    c=$(total "$b" "$n2")
    v=$(((c - a) / (n2 - n1)))
    echo "  $b run: $v Ir/request" >&2
    vals+=" $v"
  done
  m=$(median <<<"$vals")
  printf '%-8s %12s Ir/request (%s and %s iterations)\n' "$b" "${m:-n/a}" "$n1" "$n2"
done
