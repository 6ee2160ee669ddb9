#!/usr/bin/env bash
# Builds the local control plane and dev tools from the Go module proxy.
# Idempotent: every binary lands in $TOOLS_DIR keyed by version, and an
# existing binary is never rebuilt, so a fresh clone on the same machine
# reuses the cache and a second run takes seconds.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
CONTROLLER_TOOLS_VERSION=${CONTROLLER_TOOLS_VERSION:-v0.23.0}

CACHE_ROOT=${OAUTH_INJECTOR_CACHE:-$HOME/.cache/oauth-injector}
TOOLS_DIR="$CACHE_ROOT/tools"
BIN_DIR="$TOOLS_DIR/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
HELM_BIN="$TOOLS_DIR/helm-$HELM_VERSION/helm"
CG_BIN="$TOOLS_DIR/controller-gen-$CONTROLLER_TOOLS_VERSION/controller-gen"
GOLANGCI_VERSION=${GOLANGCI_VERSION:-v2.15.0}
LINT_BIN="$TOOLS_DIR/golangci-lint-$GOLANGCI_VERSION/golangci-lint"
export GOFLAGS=${GOFLAGS:--mod=mod}
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

log() { echo "hack/tools.sh: $*" >&2; }

build_k8s() {
  if [[ -x "$BIN_DIR/kube-apiserver" && -x "$BIN_DIR/kube-controller-manager" ]]; then return; fi
  local mod="$CACHE_ROOT/build/k8s-$K8S_VERSION"
  mkdir -p "$mod" "$BIN_DIR"
  log "building kube-apiserver and kube-controller-manager v$K8S_VERSION (first time ~10-20 min)"
  (
    cd "$mod"
    if [[ ! -f go.mod ]]; then
      go mod init k8s-build >/dev/null 2>&1
      go mod edit -require "k8s.io/kubernetes@v$K8S_VERSION"
      # kubernetes' own go.mod replaces every staging module with ./staging;
      # a consumer must pin each of them to the matching v0.x tag instead.
      local gomod
      gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
      local minor=${K8S_VERSION#1.}
      grep -E '^\s*k8s.io/[^ ]+ => ./staging' "$gomod" | awk '{print $1}' | while read -r m; do
        go mod edit -replace "$m=$m@v0.$minor"
      done
      cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
      go mod tidy >/dev/null
    fi
    go build -o "$BIN_DIR/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
    go build -o "$BIN_DIR/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
  )
}

build_etcd() {
  if [[ -x "$BIN_DIR/etcd" ]]; then return; fi
  mkdir -p "$BIN_DIR"
  log "building etcd $ETCD_VERSION"
  GOBIN="$BIN_DIR" go install "go.etcd.io/etcd/server/v3@$ETCD_VERSION" 2>/dev/null || true
  if [[ -x "$BIN_DIR/server" ]]; then mv "$BIN_DIR/server" "$BIN_DIR/etcd"; fi
  if [[ ! -x "$BIN_DIR/etcd" ]]; then
    local mod="$CACHE_ROOT/build/etcd-$ETCD_VERSION"
    mkdir -p "$mod"
    (
      cd "$mod"
      [[ -f go.mod ]] || { go mod init etcd-build >/dev/null 2>&1; go mod edit -require "go.etcd.io/etcd/server/v3@$ETCD_VERSION"; printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go; go mod tidy >/dev/null; }
      go build -o "$BIN_DIR/etcd" go.etcd.io/etcd/server/v3
    )
  fi
}

build_helm() {
  if [[ -x "$HELM_BIN" ]]; then return; fi
  log "building helm $HELM_VERSION"
  mkdir -p "$(dirname "$HELM_BIN")"
  GOBIN="$(dirname "$HELM_BIN")" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

build_controller_gen() {
  if [[ -x "$CG_BIN" ]]; then return; fi
  log "building controller-gen $CONTROLLER_TOOLS_VERSION"
  mkdir -p "$(dirname "$CG_BIN")"
  GOBIN="$(dirname "$CG_BIN")" go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION"
}

build_golangci_lint() {
  if [[ -x "$LINT_BIN" ]]; then return; fi
  log "building golangci-lint $GOLANGCI_VERSION"
  mkdir -p "$(dirname "$LINT_BIN")"
  GOBIN="$(dirname "$LINT_BIN")" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_VERSION"
}

case "${1:-all}" in
  all) build_controller_gen; build_helm; build_etcd; build_k8s ;;
  controller-gen) build_controller_gen ;;
  helm) build_helm ;;
  control-plane) build_etcd; build_k8s ;;
  golangci-lint) build_golangci_lint ;;
  env)
    # Print the paths the Makefile and tests consume.
    echo "KUBEBUILDER_ASSETS=$BIN_DIR"
    echo "HELM=$HELM_BIN"
    echo "CONTROLLER_GEN=$CG_BIN"
    echo "GOLANGCI_LINT=$LINT_BIN"
    ;;
  *) echo "usage: $0 [all|controller-gen|helm|control-plane|golangci-lint|env]" >&2; exit 2 ;;
esac
