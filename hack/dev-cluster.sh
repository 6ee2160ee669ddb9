#!/usr/bin/env bash
# Runs a local control plane (etcd + kube-apiserver + kube-controller-manager
# built by hack/tools.sh) for `make demo` and manual testing. No kubelet and
# no scheduler: pods are created and admitted (so the webhook mutates them)
# but never run.
#
#   hack/dev-cluster.sh start [DIR]   start in the background, print KUBECONFIG=...
#   hack/dev-cluster.sh stop  [DIR]   stop what start started
#   hack/dev-cluster.sh run   [DIR]   run in the foreground until Ctrl-C
#
# DIR defaults to $DEV_CLUSTER_DIR or ~/.cache/oauth-injector/dev-cluster and
# holds the admin kubeconfig, the pid file and the logs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_ROOT=${OAUTH_INJECTOR_CACHE:-$HOME/.cache/oauth-injector}
cmd=${1:-}
DIR=${2:-${DEV_CLUSTER_DIR:-$CACHE_ROOT/dev-cluster}}
PIDFILE="$DIR/devcluster.pid"
READY="$DIR/ready"
BIN="$DIR/bin/devcluster"

log() { echo "hack/dev-cluster.sh: $*" >&2; }

prepare() {
  mkdir -p "$DIR/bin"
  # Reuse the binaries hack/tools.sh built; never rebuild them here.
  eval "$("$ROOT/hack/tools.sh" env | sed 's/^/export /')"
  "$ROOT/hack/tools.sh" control-plane
  (cd "$ROOT" && go build -o "$BIN" ./test/e2e/cmd/devcluster)
}

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "$cmd" in
  start)
    if running; then
      log "already running (pid $(cat "$PIDFILE"))"
      echo "KUBECONFIG=$(cat "$READY")"
      exit 0
    fi
    prepare
    rm -f "$READY"
    # setsid detaches it from the caller's terminal so the caller's Ctrl-C
    # does not tear the cluster down; `stop` does that.
    setsid "$BIN" -dir "$DIR" -ready-file "$READY" >"$DIR/devcluster.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 600); do
      if [[ -s "$READY" ]]; then
        echo "KUBECONFIG=$(cat "$READY")"
        exit 0
      fi
      if ! running; then
        log "control plane failed to start; last log lines:"
        tail -n 30 "$DIR/devcluster.log" >&2
        rm -f "$PIDFILE"
        exit 1
      fi
      sleep 0.5
    done
    log "control plane not up after 5 minutes; see $DIR/devcluster.log"
    exit 1
    ;;
  stop)
    if ! running; then
      log "not running"
      rm -f "$PIDFILE" "$READY"
      exit 0
    fi
    pid=$(cat "$PIDFILE")
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE" "$READY"; log "stopped"; exit 0; }
      sleep 0.5
    done
    log "pid $pid still running after 30s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$PIDFILE" "$READY"
    ;;
  run)
    prepare
    exec "$BIN" -dir "$DIR" -ready-file "$READY"
    ;;
  *)
    echo "usage: $0 start|stop|run [DIR]" >&2
    exit 2
    ;;
esac
