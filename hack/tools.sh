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
CNI_VERSION=${CNI_VERSION:-v1.10.0}
# "-v2": built with version ldflags, so the binaries report v$K8S_VERSION.
BIN_DIR="$TOOLS_DIR/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-v2"
CNI_DIR="$TOOLS_DIR/cni-plugins-$CNI_VERSION"
HELM_BIN="$TOOLS_DIR/helm-$HELM_VERSION/helm"
CG_BIN="$TOOLS_DIR/controller-gen-$CONTROLLER_TOOLS_VERSION/controller-gen"
GOLANGCI_VERSION=${GOLANGCI_VERSION:-v2.15.0}
LINT_BIN="$TOOLS_DIR/golangci-lint-$GOLANGCI_VERSION/golangci-lint"
export GOFLAGS=${GOFLAGS:--mod=mod}
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

log() { echo "hack/tools.sh: $*" >&2; }

# Every Kubernetes binary the tests run: the control plane, and the node
# (kubelet, kube-scheduler, kubectl) for the real-node tier.
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)

k8s_ldflags() {
  # What kubernetes' own hack/lib/version.sh stamps; without it the binaries
  # report v0.0.0-master, which kubectl and helm's kubeVersion cannot parse.
  local minor=${K8S_VERSION#1.}; minor=${minor%%.*}
  local f=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    f+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "-s -w$f"
}

build_k8s() {
  local missing=()
  for c in "${K8S_CMDS[@]}"; do [[ -x "$BIN_DIR/$c" ]] || missing+=("$c"); done
  if [[ ${#missing[@]} -eq 0 ]]; then return; fi
  local mod="$CACHE_ROOT/build/k8s-$K8S_VERSION"
  mkdir -p "$mod" "$BIN_DIR"
  log "building ${missing[*]} v$K8S_VERSION (first time ~10-20 min)"
  (
    cd "$mod"
    if [[ ! -f go.mod ]] || ! grep -q kubelet tools.go 2>/dev/null; then
      rm -f go.mod go.sum
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
      {
        printf '//go:build tools\n\npackage tools\n\nimport (\n'
        printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "${K8S_CMDS[@]}"
        printf ')\n'
      } > tools.go
      go mod tidy >/dev/null
    fi
    local pkgs=()
    for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
    # One go build for all of them shares the compiled dependency graph.
    local tmp="$BIN_DIR.tmp"
    rm -rf "$tmp"; mkdir -p "$tmp"
    go build -trimpath -ldflags "$(k8s_ldflags)" -o "$tmp/" "${pkgs[@]}"
    mv "$tmp"/* "$BIN_DIR/"; rmdir "$tmp"
  )
}

build_cni() {
  if [[ -x "$CNI_DIR/bridge" && -x "$CNI_DIR/loopback" && -x "$CNI_DIR/host-local" && -x "$CNI_DIR/portmap" ]]; then return; fi
  local mod="$CACHE_ROOT/build/cni-$CNI_VERSION"
  mkdir -p "$mod" "$CNI_DIR"
  log "building CNI plugins $CNI_VERSION"
  (
    cd "$mod"
    [[ -f go.mod ]] || { go mod init cni-build >/dev/null 2>&1; go mod edit -require "github.com/containernetworking/plugins@$CNI_VERSION"
      printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "github.com/containernetworking/plugins/plugins/main/bridge"\n\t_ "github.com/containernetworking/plugins/plugins/main/loopback"\n\t_ "github.com/containernetworking/plugins/plugins/ipam/host-local"\n\t_ "github.com/containernetworking/plugins/plugins/meta/portmap"\n)\n' > tools.go
      go mod tidy >/dev/null; }
    CGO_ENABLED=0 go build -trimpath -o "$CNI_DIR/" github.com/containernetworking/plugins/plugins/main/bridge \
      github.com/containernetworking/plugins/plugins/main/loopback \
      github.com/containernetworking/plugins/plugins/ipam/host-local \
      github.com/containernetworking/plugins/plugins/meta/portmap
  )
}

# containerd, runc, iptables and conntrack come from Debian: the node tier
# needs root anyway, and apt's containerd 1.6 speaks CRI v1 to kubelet 1.37.
NODE_PKGS=(containerd runc iptables conntrack iproute2)
node_pkgs() {
  local need=()
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  command -v iptables >/dev/null || need+=(iptables)
  command -v conntrack >/dev/null || need+=(conntrack)
  command -v ip >/dev/null || need+=(iproute2)
  if [[ ${#need[@]} -eq 0 ]]; then return; fi
  if [[ $(id -u) -ne 0 ]]; then log "not root: cannot install ${need[*]}"; return 1; fi
  apt_install "${need[@]}"
}

# apt_install installs Debian packages, through passwordless sudo when not
# root (CI runners such as GitHub's run as a user that has it).
apt_install() {
  local as=()
  if [[ $(id -u) -ne 0 ]]; then
    if ! sudo -n true 2>/dev/null; then log "not root and no passwordless sudo: cannot install $* (apt-get install $*)"; return 1; fi
    as=(sudo -n)
  fi
  log "installing $* from apt"
  "${as[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 ||
    { "${as[@]}" apt-get update -qq >/dev/null 2>&1 && "${as[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}

# Servers the tests start themselves: redis-server for the shared token
# cache (internal/sharedcache). Tests skip without it locally and fail in CI.
test_deps() {
  command -v redis-server >/dev/null && return
  apt_install redis-server
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
  all) build_controller_gen; build_helm; build_etcd; build_k8s; build_cni; node_pkgs || true; test_deps || true ;;
  test-deps) test_deps ;;
  controller-gen) build_controller_gen ;;
  helm) build_helm ;;
  control-plane) build_etcd; build_k8s ;;
  node) build_etcd; build_k8s; build_cni; node_pkgs ;;
  cni) build_cni ;;
  golangci-lint) build_golangci_lint ;;
  env)
    # Print the paths the Makefile and tests consume.
    echo "KUBEBUILDER_ASSETS=$BIN_DIR"
    echo "HELM=$HELM_BIN"
    echo "CONTROLLER_GEN=$CG_BIN"
    echo "GOLANGCI_LINT=$LINT_BIN"
    echo "CNI_BIN_DIR=$CNI_DIR"
    ;;
  *) echo "usage: $0 [all|controller-gen|helm|control-plane|node|cni|golangci-lint|test-deps|env]" >&2; exit 2 ;;
esac
