#!/usr/bin/env bash
# bench/load.sh: side-by-side load comparison of
#   direct   the load tool calls the local upstream itself
#   nginx    nginx proxy_pass adding a static Authorization header
#   bearer   the sidecar, client_credentials, token cached (no refresh in the run)
#   taap     the sidecar, TAAP PoP: one RSA-2048 signature per request
# plus a rate-limited run that samples the sidecar's RSS, and the PoP mint vs
# raw RS256 Go benchmarks so every ratio comes from one run on one machine.
# See bench/README.md for the setup, the targets and the last figures.
#
# Run from anywhere: it works from the repository root. Knobs (env):
#   DURATION=10   seconds measured per throughput case   WARMUP=2  seconds discarded first
#   CONNS=64      connections for the throughput cases   LAT_CONNS=1 for the latency cases
#   LAT_DURATION=5 seconds per latency case              RATE=1000 req/s for the RSS run
#   RSS_SECONDS=15 length of the RSS run                 BENCHTIME=2s  go test -benchtime
#   PIN=1         pin the proxy to CPU 1, load tool and upstream to CPU 0 (0: no pinning)
#   TOOL=auto     wrk when installed, else the Go loadgen (force with TOOL=wrk|loadgen)
#   NO_INSTALL=1  never apt-get install nginx/wrk      RESULTS=bench/results
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
LAT_CONNS=${LAT_CONNS:-1}
LAT_DURATION=${LAT_DURATION:-5}
RATE=${RATE:-1000}
RSS_SECONDS=${RSS_SECONDS:-15}
BENCHTIME=${BENCHTIME:-2s}
PIN=${PIN:-1}
TOOL=${TOOL:-auto}
RESULTS=${RESULTS:-$ROOT/bench/results}
KEY=$ROOT/internal/pop/testdata/rsa_pkcs8.pem # the key BenchmarkRawRS256Sign uses

WORK=$(mktemp -d "${TMPDIR:-/tmp}/oauth-injector-bench.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[load.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- tools
NGINX=$(command -v nginx || true)
[[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
WRK=$(command -v wrk || true)
if [[ (-z $NGINX || -z $WRK) && ${NO_INSTALL:-0} != 1 ]]; then
  SUDO=""
  if [[ $(id -u) != 0 ]]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else log "not root and no sudo: cannot install nginx/wrk"; fi
  fi
  if command -v apt-get >/dev/null && { [[ -z $SUDO && $(id -u) == 0 ]] || [[ -n $SUDO ]]; }; then
    log "installing nginx and wrk from apt"
    export DEBIAN_FRONTEND=noninteractive
    if $SUDO apt-get update -qq >"$WORK/apt.log" 2>&1 &&
      { $SUDO apt-get install -y -qq nginx-light wrk >>"$WORK/apt.log" 2>&1 ||
        $SUDO apt-get install -y -qq nginx wrk >>"$WORK/apt.log" 2>&1; }; then
      NGINX=$(command -v nginx || echo /usr/sbin/nginx)
      WRK=$(command -v wrk || true)
    else
      log "apt-get install failed (tail of its log below); continuing without nginx/wrk"
      tail -5 "$WORK/apt.log" >&2 || true
    fi
  else
    log "apt-get unavailable: continuing without nginx/wrk"
  fi
fi
[[ -n $NGINX && ! -x $NGINX ]] && NGINX=""
case $TOOL in
  auto) if [[ -n $WRK ]]; then TOOL=wrk; else TOOL=loadgen; fi ;;
  wrk) [[ -n $WRK ]] || die "TOOL=wrk but wrk is not installed" ;;
  loadgen) ;;
  *) die "TOOL=$TOOL: want auto, wrk or loadgen" ;;
esac
[[ $TOOL == loadgen && -z $WRK ]] && log "wrk unavailable: using the Go load generator (bench/loadgen) for every case"
[[ -z $NGINX ]] && log "nginx unavailable: the nginx case is SKIPPED and the nginx ratio is not reported"
command -v curl >/dev/null || die "curl is required (readiness checks)"

# ---------------------------------------------------------------- pinning
NCPU=$(nproc)
if [[ $PIN == 1 && $NCPU -ge 2 ]] && command -v taskset >/dev/null; then
  LOAD_CPUS=0; PROXY_CPUS=1; PROXY_NCPU=1
  LOAD_ON=(taskset -c "$LOAD_CPUS"); PROXY_ON=(taskset -c "$PROXY_CPUS")
  WRK_THREADS=1
else
  PIN=0; LOAD_CPUS=all; PROXY_CPUS=all; PROXY_NCPU=$NCPU
  LOAD_ON=(); PROXY_ON=()
  WRK_THREADS=$NCPU
fi

# ---------------------------------------------------------------- build
log "building injector, upstream and loadgen"
mkdir -p "$WORK/bin"
CGO_ENABLED=0 go build -trimpath -o "$WORK/bin/injector" ./cmd/injector
go build -o "$WORK/bin/upstream" ./bench/upstream
go build -o "$WORK/bin/loadgen" ./bench/loadgen

# ---------------------------------------------------------------- helpers
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}

wait_http() { # url what
  local i
  for i in $(seq 1 300); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "$2 did not become ready at $1"
}

start_bg() { # logfile cmd...  -> sets LAST_PID
  local logf=$1; shift
  "$@" >"$logf" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# to_ms converts wrk's "380.00us" / "2.10ms" / "1.20s" to milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN{ n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /m$/) n*=60000; else if (v ~ /s$/) n*=1000; printf "%.3f", n }'
}

# measure NAME URL CONNS SECONDS [HEADER]: runs the load tool and writes
# normalised "key: value" lines to $WORK/NAME.out.
measure() {
  local name=$1 url=$2 conns=$3 secs=$4 hdr=${5:-}
  local raw=$WORK/$name.raw out=$WORK/$name.out
  if [[ $TOOL == wrk ]]; then
    local threads=$WRK_THREADS
    ((threads > conns)) && threads=$conns
    local h=(); [[ -n $hdr ]] && h=(-H "$hdr")
    "${LOAD_ON[@]}" "$WRK" -t"$threads" -c"$conns" -d"${WARMUP}s" "${h[@]}" "$url" >/dev/null 2>&1 || true
    "${LOAD_ON[@]}" "$WRK" -t"$threads" -c"$conns" -d"${secs}s" --latency "${h[@]}" "$url" >"$raw" 2>&1 ||
      { cat "$raw" >&2; die "wrk failed for $name"; }
    {
      echo "requests: $(awk '/requests in/{print $1}' "$raw")"
      echo "rps: $(awk '/^Requests\/sec:/{print $2}' "$raw")"
      echo "p50_ms: $(to_ms "$(awk '$1=="50%"{print $2}' "$raw")")"
      echo "p90_ms: $(to_ms "$(awk '$1=="90%"{print $2}' "$raw")")"
      echo "p99_ms: $(to_ms "$(awk '$1=="99%"{print $2}' "$raw")")"
      echo "errors: $(awk '/Socket errors/{gsub(",","");print $4+$6+$8+$10}' "$raw" | grep . || echo 0)"
      echo "non2xx: $(awk '/Non-2xx/{print $NF}' "$raw" | grep . || echo 0)"
    } >"$out"
  else
    local h=(); [[ -n $hdr ]] && h=(-H "$hdr")
    "${LOAD_ON[@]}" "$WORK/bin/loadgen" -url "$url" -c "$conns" -d "${secs}s" -warmup "${WARMUP}s" "${h[@]}" >"$raw" 2>&1 ||
      { cat "$raw" >&2; die "loadgen failed for $name"; }
    cp "$raw" "$out"
  fi
  log "$(printf '%-16s c=%-3s %10s req/s  p50 %7s ms  p99 %7s ms  errors %s non2xx %s' "$name" "$conns" \
    "$(get rps "$name")" "$(get p50_ms "$name")" "$(get p99_ms "$name")" "$(get errors "$name")" "$(get non2xx "$name")")"
}

get() { awk -v k="$1:" '$1==k{print $2; exit}' "$WORK/$2.out" 2>/dev/null; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="" || b=="" || b+0==0) print "n/a"; else printf "%.3f", a/b }'; }
verdict() { # value op threshold
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN{ if (v=="n/a" || v=="") {print "n/a"; exit}
    ok = (op==">=") ? (v+0 >= t+0) : (v+0 <= t+0); print ok ? "MET" : "NOT MET" }'
}

# ---------------------------------------------------------------- Go benchmarks
log "go benchmarks: BenchmarkRawRS256Sign and BenchmarkPoPMint (benchtime $BENCHTIME, on the proxy CPU)"
"${PROXY_ON[@]}" go test -run '^$' -bench '^(BenchmarkRawRS256Sign|BenchmarkPoPMint)$' -benchtime "$BENCHTIME" -benchmem -count "${BENCHCOUNT:-3}" \
  ./internal/pop/ >"$WORK/gobench.txt" 2>&1 || { cat "$WORK/gobench.txt" >&2; die "go test -bench failed"; }
# The median of BENCHCOUNT runs: one run on a shared machine can be an outlier.
median_ns() { awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {print $3}' "$WORK/gobench.txt" | sort -n | awk '{v[NR]=$1} END{ if (NR) print v[int((NR+1)/2)] }'; }
RAW_NS=$(median_ns BenchmarkRawRS256Sign)
MINT_NS=$(median_ns BenchmarkPoPMint)
[[ -n $RAW_NS && -n $MINT_NS ]] || { cat "$WORK/gobench.txt" >&2; die "could not parse benchmark output"; }
log "raw RS256 sign ${RAW_NS} ns/op, PoP mint ${MINT_NS} ns/op (medians)"

# ---------------------------------------------------------------- upstream
start_bg "$WORK/upstream.log" "${LOAD_ON[@]}" "$WORK/bin/upstream" -listen 127.0.0.1:0 -ready-file "$WORK/upstream.addr"
UP_PID=$LAST_PID
for _ in $(seq 1 100); do [[ -s $WORK/upstream.addr ]] && break; sleep 0.1; done
[[ -s $WORK/upstream.addr ]] || { cat "$WORK/upstream.log" >&2; die "upstream did not start"; }
UP=http://$(head -1 "$WORK/upstream.addr")
wait_http "$UP/stats" upstream
PATHQ=/v1/things?limit=2

# ---------------------------------------------------------------- sidecar configs
printf 'bench-client\n' >"$WORK/client_id"
printf 'bench-secret-not-a-real-one\n' >"$WORK/client_secret"
sidecar_config() { # mode port adminport
  local pop=""
  if [[ $1 == taap ]]; then
    pop=$(printf ',\n      "privateKey": {"file": "%s"},\n      "pop": {"type": "taap", "sign": ["uri", "http-method", "body"], "lifetime": "120s"}' "$KEY")
  fi
  cat <<EOF
{
  "version": "v1",
  "admin": {"listen": "127.0.0.1:$3"},
  "bindings": [
    {
      "name": "bench",
      "listenPort": $2,
      "upstream": {"url": "$UP"},
      "tokenEndpoint": {"url": "$UP/token"},
      "grant": {"type": "client_credentials"},
      "clientAuth": {"method": "client_secret_basic", "clientIDFile": "$WORK/client_id", "clientSecretFile": "$WORK/client_secret"},
      "tokenPlacement": {"in": "header"},
      "refresh": {"before": "30s"}$pop
    }
  ]
}
EOF
}

SIDECAR_STARTS=0
start_sidecar() { # mode -> SC_PID SC_URL
  local port admin
  port=$(free_port); admin=$(free_port)
  sidecar_config "$1" "$port" "$admin" >"$WORK/sidecar-$1.json"
  # GOMAXPROCS follows the affinity mask, so a pinned sidecar uses one P.
  start_bg "$WORK/sidecar-$1.log" "${PROXY_ON[@]}" "$WORK/bin/injector" run --config "$WORK/sidecar-$1.json" --log-level warn
  SC_PID=$LAST_PID
  SC_URL=http://127.0.0.1:$port
  SIDECAR_STARTS=$((SIDECAR_STARTS + 1))
  wait_http "http://127.0.0.1:$admin/startup" "sidecar ($1)"
  # One request end to end before measuring, so a broken config fails loudly.
  curl -fsS -o /dev/null "$SC_URL$PATHQ" || { cat "$WORK/sidecar-$1.log" >&2; die "sidecar ($1) cannot proxy"; }
}

# ---------------------------------------------------------------- nginx
start_nginx() { # -> NGX_PID NGX_URL
  local port=$(free_port) d=$WORK/nginx
  mkdir -p "$d/tmp" && chmod 0777 "$d/tmp"
  local workers=$PROXY_NCPU
  cat >"$d/nginx.conf" <<EOF
worker_processes $workers;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  upstream bench_up { server ${UP#http://}; keepalive 256; }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://bench_up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer static-benchmark-token";
    }
  }
}
EOF
  start_bg "$d/stderr.log" "${PROXY_ON[@]}" "$NGINX" -p "$d" -e "$d/error.log" -c "$d/nginx.conf" -g 'daemon off;'
  NGX_PID=$LAST_PID
  NGX_URL=http://127.0.0.1:$port
  wait_http "$NGX_URL$PATHQ" nginx || { cat "$d/error.log" >&2; exit 1; }
}

# ---------------------------------------------------------------- runs
log "setup: nproc=$NCPU pin=$PIN load+upstream CPUs=$LOAD_CPUS proxy CPUs=$PROXY_CPUS tool=$TOOL conns=$CONNS duration=${DURATION}s warmup=${WARMUP}s"
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

measure direct "$UP$PATHQ" "$CONNS" "$DURATION" "Authorization: Bearer static-benchmark-token"
measure direct_lat "$UP$PATHQ" "$LAT_CONNS" "$LAT_DURATION" "Authorization: Bearer static-benchmark-token"

if [[ -n $NGINX ]]; then
  start_nginx
  measure nginx "$NGX_URL$PATHQ" "$CONNS" "$DURATION"
  measure nginx_lat "$NGX_URL$PATHQ" "$LAT_CONNS" "$LAT_DURATION"
  stop_pid "$NGX_PID"
fi

start_sidecar bearer
measure bearer "$SC_URL$PATHQ" "$CONNS" "$DURATION"
measure bearer_lat "$SC_URL$PATHQ" "$LAT_CONNS" "$LAT_DURATION"
stop_pid "$SC_PID"

start_sidecar taap
measure taap "$SC_URL$PATHQ" "$CONNS" "$DURATION"
measure taap_lat "$SC_URL$PATHQ" "$LAT_CONNS" "$LAT_DURATION"
stop_pid "$SC_PID"

# RSS at a fixed rate: a fresh sidecar per mode, so VmHWM is this run's peak.
for mode in bearer taap; do
  start_sidecar "$mode"
  log "rss_$mode: $RATE req/s for ${RSS_SECONDS}s with the Go loadgen, sampling VmRSS of pid $SC_PID"
  "${LOAD_ON[@]}" "$WORK/bin/loadgen" -url "$SC_URL$PATHQ" -c 32 -rate "$RATE" -d "${RSS_SECONDS}s" -warmup "${WARMUP}s" \
    -rss-pid "$SC_PID" >"$WORK/rss_$mode.out" 2>&1 || { cat "$WORK/rss_$mode.out" >&2; die "rss run failed"; }
  stop_pid "$SC_PID"
done
TOKEN_CALLS=$(curl -fsS "$UP/stats" | sed -n 's/.*"tokenCalls":\([0-9]*\).*/\1/p')
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
MINT_VS_RAW=$(ratio "$RAW_NS" "$MINT_NS") # throughput ratio = inverse time ratio
BEARER_VS_NGINX=$(ratio "$(get rps bearer)" "$(get rps nginx)")
P50_ADD=$(awk -v a="$(get p50_ms bearer_lat)" -v b="$(get p50_ms direct_lat)" 'BEGIN{printf "%.3f", a-b}')
TAAP_CEIL=$(awk -v n="$PROXY_NCPU" -v ns="$RAW_NS" 'BEGIN{printf "%.1f", n*1e9/ns}')
TAAP_VS_CEIL=$(ratio "$(get rps taap)" "$TAAP_CEIL")
rss_mib() { awk -v k="$(get "$1" "$2")" 'BEGIN{ if (k=="") print "n/a"; else printf "%.1f", k/1024 }'; }
# The kernel updates VmHWM lazily, so a sample can exceed it: peak is the larger.
rss_peak() { awk -v a="$(get rss_peak_kib "$1")" -v b="$(get rss_hwm_kib "$1")" 'BEGIN{ if (a=="" && b=="") print "n/a"; else printf "%.1f", (a+0 > b+0 ? a : b)/1024 }'; }

mkdir -p "$RESULTS"
STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT=$RESULTS/$STAMP.txt
{
  echo "oauth-injector load comparison, $(date -Is)"
  echo "machine: nproc=$NCPU, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(go version | awk '{print $3}')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
  echo "load average at start: $LOADAVG_START; at end: $LOADAVG_END"
  echo "setup: pin=$PIN load tool + upstream on CPU $LOAD_CPUS, proxy on CPU $PROXY_CPUS (proxy cores: $PROXY_NCPU)"
  echo "tool: $TOOL ($([[ $TOOL == wrk ]] && echo "wrk -t$WRK_THREADS" || echo "bench/loadgen")), ${WARMUP}s warm-up discarded"
  echo "upstream: bench/upstream, plain HTTP/1.1 keep-alive, no verification; token cached (token endpoint calls: $TOKEN_CALLS for $SIDECAR_STARTS sidecar starts)"
  echo
  echo "Go benchmarks (pinned like the proxy; ratios use the median of ${BENCHCOUNT:-3}: raw ${RAW_NS} ns/op, mint ${MINT_NS} ns/op):"
  grep -E '^Benchmark|^cpu:' "$WORK/gobench.txt"
  echo
  printf '%-12s %6s %5s %12s %9s %9s %9s %7s %7s\n' case tool conns req/s p50_ms p90_ms p99_ms errors non2xx
  for c in direct nginx bearer taap direct_lat nginx_lat bearer_lat taap_lat; do
    [[ -f $WORK/$c.out ]] || { printf '%-12s skipped\n' "$c"; continue; }
    conns=$CONNS; secs=$DURATION
    [[ $c == *_lat ]] && { conns=$LAT_CONNS; secs=$LAT_DURATION; }
    printf '%-12s %6s %5s %12s %9s %9s %9s %7s %7s\n' "$c" "$TOOL" "$conns" "$(get rps "$c")" "$(get p50_ms "$c")" \
      "$(get p90_ms "$c")" "$(get p99_ms "$c")" "$(get errors "$c")" "$(get non2xx "$c")"
  done
  echo
  echo "RSS at $RATE req/s (Go loadgen, open loop, ${RSS_SECONDS}s):"
  for mode in bearer taap; do
    printf '  %-7s achieved %s req/s, p99 %s ms, errors %s, non2xx %s, peak VmRSS %s MiB, VmHWM %s MiB\n' "$mode" \
      "$(get rps rss_$mode)" "$(get p99_ms rss_$mode)" "$(get errors rss_$mode)" "$(get non2xx rss_$mode)" \
      "$(rss_mib rss_peak_kib rss_$mode)" "$(rss_mib rss_hwm_kib rss_$mode)"
  done
  echo
  printf '%-44s %-14s %-14s %s\n' target threshold measured verdict
  printf '%-44s %-14s %-14s %s\n' "PoP mint throughput / raw RS256 sign" ">= 0.90" "$MINT_VS_RAW" "$(verdict "$MINT_VS_RAW" '>=' 0.90)"
  printf '%-44s %-14s %-14s %s\n' "sidecar bearer req/s / nginx req/s" ">= 1.00" "$BEARER_VS_NGINX" "$(verdict "$BEARER_VS_NGINX" '>=' 1.00)"
  printf '%-44s %-14s %-14s %s\n' "sidecar bearer p50 added over direct (ms)" "<= 0.200" "$P50_ADD" "$(verdict "$P50_ADD" '<=' 0.2)"
  printf '%-44s %-14s %-14s %s\n' "sidecar TAAP req/s / (cores/sign = $TAAP_CEIL)" ">= 0.85" "$TAAP_VS_CEIL" "$(verdict "$TAAP_VS_CEIL" '>=' 0.85)"
  printf '%-44s %-14s %-14s %s\n' "sidecar bearer peak RSS at $RATE req/s (MiB)" "<= 20" "$(rss_peak rss_bearer)" "$(verdict "$(rss_peak rss_bearer)" '<=' 20)"
  printf '%-44s %-14s %-14s %s\n' "sidecar TAAP peak RSS at $RATE req/s (MiB)" "<= 20" "$(rss_peak rss_taap)" "$(verdict "$(rss_peak rss_taap)" '<=' 20)"
} >"$OUT"
cat "$OUT"
log "results written to ${OUT#$ROOT/}"
