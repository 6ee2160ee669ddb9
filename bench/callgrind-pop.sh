#!/usr/bin/env bash
# bench/callgrind-pop.sh: what minting a TAAP PoP token costs beyond its
# RS256 signature, in instructions (callgrind's Ir), which repeat from run to
# run where wall-clock time on a shared machine does not.
#
# The difference of two whole benchmarks (17.7M Ir per signature each) is
# drowned by the runtime's background work, which follows wall-clock time.
# So the figures come from function-level inclusive counts in one run:
#   sign      crypto/rsa.SignPKCS1v15 per call
#   mint      (*pop.Builder).Mint minus the SignPKCS1v15 inside it: claims,
#             edts, jti, base64url, the SHA-256 of the signing input, the
#             returned string
#   raw       BenchmarkRawRS256Sign's work beyond the signature: the SHA-256
#             of the signing input (crypto/sha256.Sum256)
# Each benchmark runs with N1 and N2 iterations (-benchtime Nx) and per-call
# figures are (count(N2) - count(N1)) / (N2 - N1), which cancels key parsing
# and the first call's pool warm-up.
#   N1=20 N2=60        iteration counts
#   TESTBIN=path       measure an already built `go test -c` binary of
#                      internal/pop (e.g. one built from an older commit)
# Needs valgrind. Async preemption is off (its signals crash callgrind) and so
# is the GC (its work would be counted inside whatever call it interrupts).
# What remains is scheduler work: the runtime still preempts at function
# entry after 10 ms of wall-clock time (a signature takes ~35 ms under
# callgrind), which costs a few hundred Ir and, when the switch lands badly,
# misattributes millions of Ir across callgrind's shadow call stack. So the
# whole measurement repeats REPEAT times and the medians are reported.
#   REPEAT=5
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N1=${N1:-20}
N2=${N2:-60}
REPEAT=${REPEAT:-5}
command -v valgrind >/dev/null || { echo "callgrind-pop.sh: valgrind is not installed" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/oauth-injector-callgrind.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
BIN=${TESTBIN:-}
if [[ -z $BIN ]]; then
  BIN=$WORK/pop.test
  CGO_ENABLED=0 go test -c -o "$BIN" ./internal/pop/
fi
BIN=$(realpath "$BIN")

run() { # bench iterations -> $WORK/<bench>-<iterations>.txt (inclusive counts)
  local out=$WORK/$1-$2
  (cd internal/pop && GOGC=off GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$out.cg" \
    "$BIN" -test.run '^$' -test.bench "^$1\$" -test.benchtime "$2x" -test.cpu 1 >"$out.log" 2>&1) ||
    { cat "$out.log" >&2; exit 1; }
  callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$out.cg" >"$out.txt" 2>/dev/null
}

count() { # bench iterations function-suffix -> inclusive Ir of that function
  # A function can be listed twice (absolute and relative file name) with the
  # same count: take the largest.
  local n
  n=$(awk -v f="$3" '{ for (i = 2; i <= NF; i++) if (length($i) >= length(f) && substr($i, length($i) - length(f) + 1) == f) {
      n = $1; gsub(",", "", n); if (n + 0 > max) max = n + 0 } } END { if (max) printf "%d\n", max }' "$WORK/$1-$2.txt")
  [[ -n $n ]] || { echo "callgrind-pop.sh: no count for $3 in the $1 run" >&2; exit 1; }
  echo "$n"
}

per_call() { # bench function-suffix [minus-function-suffix]
  local a b
  a=$(count "$1" "$N1" "$2") && b=$(count "$1" "$N2" "$2") || exit 1
  if [[ -n ${3:-} ]]; then
    local c d
    c=$(count "$1" "$N1" "$3") && d=$(count "$1" "$N2" "$3") || exit 1
    a=$((a - c)) b=$((b - d))
  fi
  echo $(((b - a) / (N2 - N1)))
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }

MINT='internal/pop.(*Builder).Mint'
SIGN=':crypto/rsa.SignPKCS1v15'
SIGNS="" MINTS="" RAWS=""
for i in $(seq 1 "$REPEAT"); do
  for b in BenchmarkPoPMint BenchmarkRawRS256Sign; do run "$b" "$N1"; run "$b" "$N2"; done
  s=$(per_call BenchmarkRawRS256Sign "$SIGN")
  m=$(per_call BenchmarkPoPMint "$MINT" "$SIGN")
  r=$(per_call BenchmarkRawRS256Sign ':crypto/sha256.Sum256')
  echo "run $i: sign $s, mint minus sign $m, raw minus sign $r (Ir/call)" >&2
  SIGNS+=" $s" MINTS+=" $m" RAWS+=" $r"
done
SIGN_IR=$(median <<<"$SIGNS")
MINT_IR=$(median <<<"$MINTS")
RAW_IR=$(median <<<"$RAWS")
echo "medians of $REPEAT runs, $N1 and $N2 iterations each:"
printf 'rsa.SignPKCS1v15 (one RS256 signature)      %10d Ir/call\n' "$SIGN_IR"
printf 'Mint minus the signature                    %10d Ir/call\n' "$MINT_IR"
printf 'raw sign benchmark minus the signature      %10d Ir/call (SHA-256 of the signing input)\n' "$RAW_IR"
awk -v m="$MINT_IR" -v r="$RAW_IR" -v s="$SIGN_IR" \
  'BEGIN{printf "Mint minus raw sign                         %10d Ir/call = %.4f%% of a signature\n", m-r, 100*(m-r)/s}'
