#!/usr/bin/env bash
# bench/load.sh: measures, in one run, every row of issue 11's target table
# and marks each met or not met:
#   bearer req/s vs nginx       same connections, a pinned and an unpinned pass
#   bearer CPU at RATE req/s    user+sys of the sidecar from /proc/<pid>/stat over the window, in vCPU
#   bearer p50 over direct      one connection
#   TAAP req/s vs raw sign rate Go RS256 signatures/s on the proxy's cores (bench/signrate), same pass
#   TAAP CPU per request        vs the raw sign CPU per signature, both from /proc/<pid>/stat
#   RSS at RATE req/s           bearer and TAAP
# The cases: direct (the load tool calls the upstream itself), nginx
# (proxy_pass plus a static Authorization header), bearer (the sidecar,
# client_credentials, token cached) and taap (the sidecar, one RSA-2048
# signature per request). See bench/README.md for the setup and the figures.
#
# Run from anywhere: it works from the repository root. Knobs (env):
#   DURATION=10   seconds measured per throughput case   WARMUP=2  seconds discarded first
#   CONNS=64      connections for the throughput cases   LAT_CONNS=1 for the latency cases
#   LAT_DURATION=5 seconds per latency case              RATE=1000 req/s for the CPU and RSS runs
#   RSS_SECONDS=15 length of each fixed-rate run         TAAP_RATE=auto req/s for TAAP CPU per request
#                                                        (auto: half the measured raw sign rate)
#   SIGN_SECONDS=$DURATION  raw sign measurement         BENCHTIME=2s BENCHCOUNT=3  go test -bench (info)
#   ROUNDS=3      each pass runs every case this many times, interleaved
#                 (direct, nginx, bearer, floors, TAAP, then again); a figure is
#                 the median round, a ratio the median of the rounds' paired
#                 ratios, RSS the largest round: on a shared VM one window can
#                 be 30% off and an interleaved pair moves together
#   PASSES="pinned unpinned"  throughput passes; the first also runs the latency,
#                 CPU and RSS cases. pinned: proxy on CPU 1, load tool and upstream
#                 on CPU 0. PIN=0 (older knob) means PASSES=unpinned.
#   STACKS="nethttp reverseproxy fasthttp"  stack floors (bench/stackfloor) measured beside
#                 the sidecar: each stack forwarding with a static header and nothing
#                 else; STACKS="" skips them
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
TAAP_RATE=${TAAP_RATE:-auto}
SIGN_SECONDS=${SIGN_SECONDS:-$DURATION}
BENCHTIME=${BENCHTIME:-2s}
BENCHCOUNT=${BENCHCOUNT:-3}
if [[ -z ${PASSES:-} ]]; then
  if [[ ${PIN:-1} == 0 ]]; then PASSES=unpinned; else PASSES="pinned unpinned"; fi
fi
TOOL=${TOOL:-auto}
STACKS=${STACKS-nethttp reverseproxy fasthttp}
ROUNDS=${ROUNDS:-3}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS=$ROUNDS: want a positive integer" >&2; exit 1; }
RS="" # the current round's suffix on every result name: @1, @2, ...
RESULTS=${RESULTS:-$ROOT/bench/results}
KEY=$ROOT/internal/pop/testdata/rsa_pkcs8.pem # the key BenchmarkRawRS256Sign uses
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
for p in $PASSES; do [[ $p == pinned || $p == unpinned ]] || { echo "PASSES: $p is not pinned or unpinned" >&2; exit 1; }; done
read -r PRIMARY _ <<<"$PASSES"

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
# set_pass pinned|unpinned sets where the load tool + upstream and the proxy
# run. Pinned: the proxy alone on CPU 1 (nginx one worker, the sidecar and
# signrate one P: Go sizes GOMAXPROCS from the affinity mask), the load tool
# and the upstream on CPU 0. Unpinned: the kernel schedules all of them on
# all CPUs. Returns 1 when the pass cannot run here.
set_pass() {
  PASS=$1
  if [[ $1 == pinned ]]; then
    if [[ $NCPU -ge 2 ]] && command -v taskset >/dev/null; then
      LOAD_CPUS=0; PROXY_CPUS=1; PROXY_NCPU=1
      LOAD_ON=(taskset -c "$LOAD_CPUS"); PROXY_ON=(taskset -c "$PROXY_CPUS")
      WRK_THREADS=1
      return 0
    fi
    log "pinned pass skipped: it needs 2 or more CPUs and taskset"
    return 1
  fi
  LOAD_CPUS=all; PROXY_CPUS=all; PROXY_NCPU=$NCPU
  LOAD_ON=(); PROXY_ON=()
  WRK_THREADS=$NCPU
}

# ---------------------------------------------------------------- build
log "building injector, upstream, loadgen and signrate"
mkdir -p "$WORK/bin"
CGO_ENABLED=0 go build -trimpath -o "$WORK/bin/injector" ./cmd/injector
go build -o "$WORK/bin/upstream" ./bench/upstream
go build -o "$WORK/bin/loadgen" ./bench/loadgen
CGO_ENABLED=0 go build -trimpath -o "$WORK/bin/signrate" ./bench/signrate
# Its own module (fasthttp stays out of the project's go.mod); it needs the
# Go module proxy once, like every other dependency.
if [[ -n $STACKS ]] && ! (cd bench/stackfloor && CGO_ENABLED=0 go build -trimpath -o "$WORK/bin/stackfloor" .) >"$WORK/stackfloor-build.log" 2>&1; then
  log "bench/stackfloor did not build, so the stack floors are SKIPPED: $(tail -1 "$WORK/stackfloor-build.log")"
  STACKS=""
fi

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
  local name=$1$RS url=$2 conns=$3 secs=$4 hdr=${5:-}
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

# ---------------------------------------------------------------- stack floors
start_floor() { # stack [flags...] -> FL_PID FL_URL
  rm -f "$WORK/floor.addr"
  start_bg "$WORK/floor-$1.log" "${PROXY_ON[@]}" "$WORK/bin/stackfloor" -stack "$@" -upstream "$UP" -ready-file "$WORK/floor.addr"
  FL_PID=$LAST_PID
  for _ in $(seq 1 100); do [[ -s $WORK/floor.addr ]] && break; sleep 0.1; done
  [[ -s $WORK/floor.addr ]] || { cat "$WORK/floor-$1.log" >&2; die "stackfloor -stack $1 did not start"; }
  FL_URL=http://$(head -1 "$WORK/floor.addr")
  wait_http "$FL_URL$PATHQ" "stackfloor ($1)"
}

# ---------------------------------------------------------------- upstream
start_upstream() { # -> UP_PID UP
  rm -f "$WORK/upstream.addr"
  start_bg "$WORK/upstream-$PASS.log" "${LOAD_ON[@]}" "$WORK/bin/upstream" -listen 127.0.0.1:0 -ready-file "$WORK/upstream.addr"
  UP_PID=$LAST_PID
  for _ in $(seq 1 100); do [[ -s $WORK/upstream.addr ]] && break; sleep 0.1; done
  [[ -s $WORK/upstream.addr ]] || { cat "$WORK/upstream-$PASS.log" >&2; die "upstream did not start"; }
  UP=http://$(head -1 "$WORK/upstream.addr")
  wait_http "$UP/stats" upstream
}
TOKEN_CALLS=0
stop_upstream() {
  local n
  n=$(curl -fsS "$UP/stats" | sed -n 's/.*"tokenCalls":\([0-9]*\).*/\1/p')
  TOKEN_CALLS=$((TOKEN_CALLS + ${n:-0}))
  stop_pid "$UP_PID"
}
PATHQ=/v1/things?limit=2

# fixed_rate NAME MODE RATE: a fresh sidecar at RATE req/s (Go loadgen, open
# loop, 32 connections) for RSS_SECONDS, sampling its RSS and CPU time.
fixed_rate() {
  local name=$1$RS mode=$2 rate=$3
  start_sidecar "$mode"
  log "$name: $mode at $rate req/s for ${RSS_SECONDS}s, sampling RSS and CPU of pid $SC_PID"
  "${LOAD_ON[@]}" "$WORK/bin/loadgen" -url "$SC_URL$PATHQ" -c 32 -rate "$rate" -d "${RSS_SECONDS}s" -warmup "${WARMUP}s" \
    -rss-pid "$SC_PID" -cpu-pid "$SC_PID" -clk-tck "$CLK_TCK" >"$WORK/$name.out" 2>&1 ||
    { cat "$WORK/$name.out" >&2; die "$name run failed"; }
  stop_pid "$SC_PID"
  log "$(printf '%-16s %s req/s served, %s vCPU, %s us CPU/request, p99 %s ms, errors %s' "$name" \
    "$(get done_rps "$name")" "$(get vcpu "$name")" "$(get cpu_per_req_us "$name")" "$(get p99_ms "$name")" "$(get errors "$name")")"
}

# fixed_rate_ref NAME RATE URL PID: a reference proxy (nginx's worker, a
# stack floor) at RATE req/s the same way: no target; it shows what this
# machine's kernel and loopback, and each HTTP stack, cost at a fixed rate.
fixed_rate_ref() {
  local name=$1$RS rate=$2 url=$3 pid=$4
  log "$name: $rate req/s for ${RSS_SECONDS}s, sampling CPU and RSS of pid $pid"
  "${LOAD_ON[@]}" "$WORK/bin/loadgen" -url "$url$PATHQ" -c 32 -rate "$rate" -d "${RSS_SECONDS}s" -warmup "${WARMUP}s" \
    -rss-pid "$pid" -cpu-pid "$pid" -clk-tck "$CLK_TCK" >"$WORK/$name.out" 2>&1 ||
    { cat "$WORK/$name.out" >&2; die "$name run failed"; }
  log "$(printf '%-16s %s req/s served, %s vCPU, %s us CPU/request' "$name" \
    "$(get done_rps "$name")" "$(get vcpu "$name")" "$(get cpu_per_req_us "$name")")"
}

fixed_rate_nginx() { # NAME RATE: measures nginx's worker process
  local worker
  start_nginx
  worker=$(pgrep -P "$NGX_PID" | head -1)
  [[ -n $worker ]] || die "nginx has no worker process"
  fixed_rate_ref "$1" "$2" "$NGX_URL" "$worker"
  stop_pid "$NGX_PID"
}

# sign_rate NAME [RATE SECONDS]: raw RS256 signatures/s and CPU per signature
# on the proxy's cores; flat out, or paced at RATE signatures/s.
sign_rate() {
  local name=$1$RS pace=() secs=$SIGN_SECONDS
  [[ -n ${2:-} ]] && pace=(-rate "$2") && secs=$3
  "${PROXY_ON[@]}" "$WORK/bin/signrate" -key "$KEY" -d "${secs}s" -warmup 1s -clk-tck "$CLK_TCK" "${pace[@]}" >"$WORK/$name.out" 2>&1 ||
    { cat "$WORK/$name.out" >&2; die "signrate failed"; }
  log "$(printf '%-16s %s workers: %s signs/s, %s us CPU/sign' "$name" "$(get workers "$name")" "$(get signs_per_s "$name")" "$(get cpu_per_sign_us "$name")")"
}

# ---------------------------------------------------------------- runs
log "setup: nproc=$NCPU passes='$PASSES' tool=$TOOL conns=$CONNS duration=${DURATION}s warmup=${WARMUP}s"
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
RAN_PASSES=""
for pass in $PASSES; do
  set_pass "$pass" || continue
  RAN_PASSES+=" $pass"
  log "== $pass pass: load tool + upstream on CPUs $LOAD_CPUS, proxy on CPUs $PROXY_CPUS ($PROXY_NCPU cores)"
  echo "$PROXY_NCPU" >"$WORK/proxy_ncpu_$pass"
  start_upstream

  if [[ $pass == "$PRIMARY" ]]; then
    log "go benchmarks (info): BenchmarkRawRS256Sign and BenchmarkPoPMint, -cpu $PROXY_NCPU, on the proxy CPUs"
    "${PROXY_ON[@]}" go test -run '^$' -bench '^(BenchmarkRawRS256Sign|BenchmarkPoPMint)$' -cpu "$PROXY_NCPU" -benchtime "$BENCHTIME" \
      -benchmem -count "$BENCHCOUNT" ./internal/pop/ >"$WORK/gobench.txt" 2>&1 || { cat "$WORK/gobench.txt" >&2; die "go test -bench failed"; }
  fi

  for ((round = 1; round <= ROUNDS; round++)); do
  RS=@$round
  log "-- $pass pass, round $round of $ROUNDS"
  measure "direct_$pass" "$UP$PATHQ" "$CONNS" "$DURATION" "Authorization: Bearer static-benchmark-token"
  if [[ -n $NGINX ]]; then
    start_nginx
    measure "nginx_$pass" "$NGX_URL$PATHQ" "$CONNS" "$DURATION"
    stop_pid "$NGX_PID"
  fi
  start_sidecar bearer
  measure "bearer_$pass" "$SC_URL$PATHQ" "$CONNS" "$DURATION"
  stop_pid "$SC_PID"
  for st in $STACKS; do
    start_floor "$st"
    measure "floor_${st}_$pass" "$FL_URL$PATHQ" "$CONNS" "$DURATION"
    stop_pid "$FL_PID"
  done
  # The sign rate right before and right after the TAAP case, on the same
  # cores; the ceiling is their mean, so a machine whose speed drifts
  # during the pass (other tenants) moves both sides of the ratio alike.
  sign_rate "sign_$pass"
  start_sidecar taap
  measure "taap_$pass" "$SC_URL$PATHQ" "$CONNS" "$DURATION"
  stop_pid "$SC_PID"
  # The TAAP floor: net/http plus the same RSA signature per request.
  if [[ $STACKS == *nethttp* ]]; then
    start_floor nethttp -sign-key "$KEY"
    measure "floor_nethttp_sign_$pass" "$FL_URL$PATHQ" "$CONNS" "$DURATION"
    stop_pid "$FL_PID"
  fi
  sign_rate "sign_after_$pass"
  awk -v a="$(get signs_per_s "sign_$pass$RS")" -v b="$(get signs_per_s "sign_after_$pass$RS")" \
    'BEGIN{ printf "signs_per_s: %.1f\n", (a+b)/2 }' >"$WORK/sign_mean_$pass$RS.out"

  if [[ $pass == "$PRIMARY" ]]; then
    measure direct_lat "$UP$PATHQ" "$LAT_CONNS" "$LAT_DURATION" "Authorization: Bearer static-benchmark-token"
    if [[ -n $NGINX ]]; then
      start_nginx
      measure nginx_lat "$NGX_URL$PATHQ" "$LAT_CONNS" "$LAT_DURATION"
      stop_pid "$NGX_PID"
    fi
    start_sidecar bearer
    measure bearer_lat "$SC_URL$PATHQ" "$LAT_CONNS" "$LAT_DURATION"
    stop_pid "$SC_PID"
    start_sidecar taap
    measure taap_lat "$SC_URL$PATHQ" "$LAT_CONNS" "$LAT_DURATION"
    stop_pid "$SC_PID"
    for st in $STACKS; do
      start_floor "$st"
      measure "floor_${st}_lat" "$FL_URL$PATHQ" "$LAT_CONNS" "$LAT_DURATION"
      stop_pid "$FL_PID"
    done

    fixed_rate rate_bearer bearer "$RATE"
    [[ -n $NGINX ]] && fixed_rate_nginx rate_nginx "$RATE"
    fixed_rate rate_taap taap "$RATE"
    if [[ $TAAP_RATE == auto ]]; then # from the first round, then fixed
      TAAP_RATE=$(awk -v r="$(get signs_per_s "sign_$pass$RS")" 'BEGIN{ n = int(r / 2); print (n < 1 ? 1 : n) }')
    fi
    fixed_rate cpu_taap taap "$TAAP_RATE"
    # The same signatures at the same rate with nothing else: what a
    # signature costs when the CPU idles between them.
    sign_rate sign_paced "$TAAP_RATE" "$RSS_SECONDS"
    for st in $STACKS; do
      start_floor "$st"
      fixed_rate_ref "rate_floor_$st" "$RATE" "$FL_URL" "$FL_PID"
      stop_pid "$FL_PID"
    done
  fi
  done
  RS=""
  stop_upstream
done
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
[[ -n $RAN_PASSES ]] || die "no pass could run"

# ---------------------------------------------------------------- rounds
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
# key_of CASE: the figure that picks a case's median round.
key_of() {
  case $1 in
    sign*) echo signs_per_s ;;
    rate_* | cpu_taap) echo vcpu ;;
    *_lat) echo p50_ms ;;
    *) echo rps ;;
  esac
}
# Each case's median round becomes CASE.out, with every round's figure.
for f in "$WORK"/*@1.out; do
  [[ -e $f ]] || continue
  c=$(basename "$f" @1.out) k=$(key_of "$c")
  vals=$(for ((r = 1; r <= ROUNDS; r++)); do get "$k" "$c@$r"; done)
  m=$(median <<<"$vals")
  for ((r = 1; r <= ROUNDS; r++)); do
    if [[ $(get "$k" "$c@$r") == "$m" ]]; then cp "$WORK/$c@$r.out" "$WORK/$c.out"; break; fi
  done
  echo "rounds_$k: $(echo $vals)" >>"$WORK/$c.out"
done
rounds_of() { awk '/^rounds_/{ $1 = ""; sub(/^ /, ""); print }' "$WORK/$1.out" 2>/dev/null; }
# pratio A KEYA B KEYB: the median over rounds of A's KEYA / B's KEYB.
pratio() {
  local r
  for ((r = 1; r <= ROUNDS; r++)); do ratio "$(get "$2" "$1@$r")" "$(get "$4" "$3@$r")"; echo; done | grep -v n/a | median | grep . || echo n/a
}
# pdiff A B KEY: the median over rounds of A's KEY - B's KEY.
pdiff() {
  local r a b
  for ((r = 1; r <= ROUNDS; r++)); do
    a=$(get "$3" "$1@$r") b=$(get "$3" "$2@$r")
    [[ -n $a && -n $b ]] && awk -v a="$a" -v b="$b" 'BEGIN{printf "%.3f\n", a-b}'
  done | median | grep . || echo n/a
}

# ---------------------------------------------------------------- report
num() { awk -v v="$1" 'BEGIN{ exit !(v ~ /^-?[0-9.]+$/) }'; }
p50_added() { pdiff "${1:-bearer_lat}" direct_lat p50_ms; } # [CASE, default bearer_lat]
rss_mib() { awk -v k="$(get "$1" "$2")" 'BEGIN{ if (k=="") print "n/a"; else printf "%.1f", k/1024 }'; }
# The kernel updates VmHWM lazily, so a sample can exceed it: peak is the larger.
# and RSS is the largest of any round.
rss_peak() {
  local r
  for ((r = 1; r <= ROUNDS; r++)); do get rss_peak_kib "$1@$r"; get rss_hwm_kib "$1@$r"; done |
    awk 'NF { if ($1 + 0 > m) m = $1 + 0; n++ } END { if (n) printf "%.1f", m / 1024; else print "n/a" }'
}
# held NAME RATE: a note when a fixed-rate run did not hold its rate cleanly:
# fewer answers served inside the window than offered, or errors.
held() {
  awk -v r="$(get done_rps "$1")" -v want="$2" -v e="$(get errors "$1")" -v n="$(get non2xx "$1")" \
    'BEGIN{ if (r=="") exit; if (r+0 < 0.95*want) printf " (only %.0f of %d req/s)", r, want; if (e+n > 0) printf " (%d errors)", e+n }'
}
row() { # target threshold-op threshold value [note]
  printf '%-58s %-9s %-10s %s%s\n' "$1" "$2 $3" "$4" "$(verdict "$4" "$2" "$3")" "${5:-}"
}
verdict() { # value op threshold
  if ! num "$1"; then echo "n/a"; return; fi
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN{ ok = (op==">=") ? (v+0 >= t+0) : (v+0 <= t+0); print ok ? "met" : "NOT MET" }'
}

mkdir -p "$RESULTS"
STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT=$RESULTS/$STAMP.txt
{
  echo "oauth-injector load comparison, $(date -Is)"
  echo "machine: nproc=$NCPU, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(go version | awk '{print $3}'), CLK_TCK=$CLK_TCK"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
  echo "load average at start: $LOADAVG_START; at end: $LOADAVG_END"
  echo "passes:$RAN_PASSES (pinned: load tool + upstream on CPU 0, proxy and signrate on CPU 1; unpinned: all on all $NCPU CPUs)"
  echo "tool: $TOOL, ${WARMUP}s warm-up discarded; throughput cases $CONNS connections for ${DURATION}s, latency cases $LAT_CONNS for ${LAT_DURATION}s"
  echo "upstream: bench/upstream, plain HTTP/1.1 keep-alive, no verification; token cached (token endpoint calls: $TOKEN_CALLS for $SIDECAR_STARTS sidecar starts)"
  echo
  echo "each case ran $ROUNDS times, interleaved; shown: the median round (by req/s, or by p50 for one connection), then every round"
  printf '%-26s %6s %5s %12s %9s %9s %9s %7s %7s  %s\n' case tool conns req/s p50_ms p90_ms p99_ms errors non2xx rounds
  for c in $(for p in $RAN_PASSES; do printf 'direct_%s nginx_%s bearer_%s taap_%s ' "$p" "$p" "$p" "$p"; for st in $STACKS; do printf 'floor_%s_%s ' "$st" "$p"; done; [[ $STACKS == *nethttp* ]] && printf 'floor_nethttp_sign_%s ' "$p"; done) \
    direct_lat nginx_lat bearer_lat taap_lat $(for st in $STACKS; do printf 'floor_%s_lat ' "$st"; done); do
    [[ -f $WORK/$c.out ]] || { printf '%-26s skipped\n' "$c"; continue; }
    conns=$CONNS
    [[ $c == *_lat ]] && conns=$LAT_CONNS
    printf '%-26s %6s %5s %12s %9s %9s %9s %7s %7s  %s\n' "$c" "$TOOL" "$conns" "$(get rps "$c")" "$(get p50_ms "$c")" \
      "$(get p90_ms "$c")" "$(get p99_ms "$c")" "$(get errors "$c")" "$(get non2xx "$c")" \
      "$(rounds_of "$c")"
  done
  echo
  echo "raw RS256 signing (bench/signrate on the proxy's cores, ${SIGN_SECONDS}s, right before and right after each pass's TAAP case; the ceiling is their mean):"
  for p in $RAN_PASSES; do
    for c in "sign_$p" "sign_after_$p"; do
      printf '  %-20s %s workers: %s signs/s, %s vCPU, %s us CPU per signature (signs/s by round: %s)\n' "$c" "$(get workers "$c")" \
        "$(get signs_per_s "$c")" "$(get vcpu "$c")" "$(get cpu_per_sign_us "$c")" "$(rounds_of "$c")"
    done
    printf '  %-20s %s signs/s (by round: %s)\n' "mean, $p" "$(get signs_per_s "sign_mean_$p")" "$(rounds_of "sign_mean_$p")"
  done
  if [[ -f $WORK/sign_paced.out ]]; then
    printf '  %-20s paced at %s signs/s (%s s): %s signs/s, %s vCPU, %s us CPU per signature (signs/s by round: %s)\n' "sign_paced, $PRIMARY" "$TAAP_RATE" "$RSS_SECONDS" \
      "$(get signs_per_s sign_paced)" "$(get vcpu sign_paced)" "$(get cpu_per_sign_us sign_paced)" "$(rounds_of sign_paced)"
  fi
  echo
  echo "fixed-rate runs ($PRIMARY, Go loadgen, open loop, 32 connections, ${RSS_SECONDS}s; CPU = user+sys from /proc/<pid>/stat; the median round by vCPU, then vCPU by round):"
  for c in rate_bearer rate_nginx rate_taap cpu_taap $(for st in $STACKS; do printf 'rate_floor_%s ' "$st"; done); do
    [[ -f $WORK/$c.out ]] || { printf '  %-19s skipped\n' "$c"; continue; }
    printf '  %-19s offered %s req/s, served %s req/s, p50 %s ms, p99 %s ms, errors %s, non2xx %s, %s vCPU (user %s s, sys %s s), %s us CPU/request served, peak VmRSS %s MiB, VmHWM %s MiB; vCPU by round: %s\n' \
      "$c" "$(get rps $c)" "$(get done_rps $c)" "$(get p50_ms $c)" "$(get p99_ms $c)" "$(get errors $c)" "$(get non2xx $c)" "$(get vcpu $c)" \
      "$(get cpu_user_s $c)" "$(get cpu_sys_s $c)" "$(get cpu_per_req_us $c)" "$(rss_mib rss_peak_kib $c)" "$(rss_mib rss_hwm_kib $c)" "$(rounds_of $c)"
  done
  echo
  if [[ -f $WORK/gobench.txt ]]; then
    echo "Go benchmarks (info; $PRIMARY, -cpu $(cat "$WORK/proxy_ncpu_$PRIMARY"), benchtime $BENCHTIME, count $BENCHCOUNT):"
    grep -E '^Benchmark|^cpu:' "$WORK/gobench.txt"
    echo
  fi
  echo "targets (issue 11):"
  printf '%-58s %-9s %-10s %s\n' target goal measured verdict
  for p in pinned unpinned; do
    row "bearer req/s / nginx req/s, $CONNS conns, $p" ">=" 1.00 "$(pratio "bearer_$p" rps "nginx_$p" rps)"
  done
  row "bearer CPU at $RATE req/s, vCPU ($PRIMARY)" "<=" 0.10 "$(get vcpu rate_bearer | grep . || echo n/a)" "$(held rate_bearer "$RATE")"
  row "bearer p50 added over direct, $LAT_CONNS conn, ms ($PRIMARY)" "<=" 0.100 "$(p50_added)"
  for p in pinned unpinned; do
    row "TAAP req/s / raw sign rate on the same cores, $p" ">=" 0.95 "$(pratio "taap_$p" rps "sign_mean_$p" signs_per_s)"
  done
  row "TAAP CPU per request / raw sign CPU per signature" "<=" 1.10 \
    "$(pratio cpu_taap cpu_per_req_us "sign_$PRIMARY" cpu_per_sign_us)" " (at $TAAP_RATE req/s)$(held cpu_taap "$TAAP_RATE")"
  row "bearer peak RSS at $RATE req/s, MiB" "<=" 20 "$(rss_peak rate_bearer)" "$(held rate_bearer "$RATE")"
  row "TAAP peak RSS at $RATE req/s, MiB" "<=" 20 "$(rss_peak rate_taap)" "$(held rate_taap "$RATE")"
  echo
  echo "references (no target): nginx, and each HTTP stack doing nothing but forwarding (bench/stackfloor)"
  info() { printf '%-58s %s\n' "$1" "$2"; }
  for p in pinned unpinned; do
    [[ -f $WORK/bearer_$p.out ]] || continue
    for st in $STACKS; do
      info "$st floor req/s / nginx req/s, $CONNS conns, $p" "$(pratio "floor_${st}_$p" rps "nginx_$p" rps)"
    done
    if [[ $STACKS == *nethttp* ]]; then
      info "bearer req/s / nethttp floor req/s, $CONNS conns, $p" "$(pratio "bearer_$p" rps "floor_nethttp_$p" rps)"
      info "nethttp+sign floor req/s / raw sign rate, $p" "$(pratio "floor_nethttp_sign_$p" rps "sign_mean_$p" signs_per_s)"
      info "TAAP req/s / nethttp+sign floor req/s, $p" "$(pratio "taap_$p" rps "floor_nethttp_sign_$p" rps)"
    fi
  done
  info "nginx CPU at $RATE req/s, vCPU" "$(get vcpu rate_nginx | grep . || echo n/a)"
  for st in $STACKS; do info "$st floor CPU at $RATE req/s, vCPU" "$(get vcpu "rate_floor_$st" | grep . || echo n/a)"; done
  info "nginx p50 added over direct, $LAT_CONNS conn, ms" "$(p50_added nginx_lat)"
  for st in $STACKS; do info "$st floor p50 added over direct, $LAT_CONNS conn, ms" "$(p50_added "floor_${st}_lat")"; done
  info "TAAP CPU per request / paced raw sign CPU, same rate" "$(pratio cpu_taap cpu_per_req_us sign_paced cpu_per_sign_us) (at $TAAP_RATE req/s)"
  info "paced raw sign CPU / flat-out raw sign CPU" "$(pratio sign_paced cpu_per_sign_us "sign_$PRIMARY" cpu_per_sign_us)"
} >"$OUT"
cat "$OUT"
log "results written to ${OUT#$ROOT/}"
