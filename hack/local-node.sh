#!/usr/bin/env bash
# One command for a single-node cluster with a real kubelet (see
# hack/localnode): containerd and runc from apt, Kubernetes and CNI built by
# hack/tools.sh, images built by `make images` without Docker. Needs root.
#
#   hack/local-node.sh up   [DIR]   start in the background, print KUBECONFIG=...
#   hack/local-node.sh down [DIR]   stop every process by PID, remove mounts,
#                                   netns, cni0 and the KUBE-* iptables chains
#
# DIR defaults to $LOCAL_NODE_DIR or /tmp/oauth-injector-node (short: it
# holds containerd's socket).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmd=${1:-}
DIR=${2:-${LOCAL_NODE_DIR:-/tmp/oauth-injector-node}}
PIDFILE="$DIR/localnode.pid"
READY="$DIR/ready"
BIN="$DIR/bin/localnode"

log() { echo "hack/local-node.sh: $*" >&2; }
running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "$cmd" in
  up)
    if running; then echo "KUBECONFIG=$(cat "$READY")"; exit 0; fi
    "$ROOT/hack/tools.sh" node
    eval "$("$ROOT/hack/tools.sh" env | sed 's/^/export /')"
    mkdir -p "$DIR/bin"
    (cd "$ROOT" && go build -o "$BIN" ./hack/localnode/cmd/localnode)
    "$BIN" preflight
    (cd "$ROOT" && make -s images)
    rm -f "$READY"
    setsid "$BIN" up -dir "$DIR" -images "$ROOT/bin/images" -ready-file "$READY" >"$DIR/localnode.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 600); do
      if [[ -s "$READY" ]]; then echo "KUBECONFIG=$(cat "$READY")"; exit 0; fi
      if ! running; then log "node failed to start:"; tail -n 20 "$DIR/localnode.log" >&2; exit 1; fi
      sleep 0.5
    done
    log "node not Ready after 5 minutes; see $DIR/localnode.log"; exit 1
    ;;
  down)
    if running; then
      pid=$(cat "$PIDFILE"); kill -TERM "$pid"
      for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    rm -f "$PIDFILE" "$READY"
    # Whatever the owner left (it may have been killed): by PID from the state file.
    if [[ -x "$BIN" ]]; then "$BIN" down -dir "$DIR"; fi
    log "down"
    ;;
  *) echo "usage: $0 up|down [DIR]" >&2; exit 2 ;;
esac
