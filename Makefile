# oauth-injector. `make demo` and `make test` are the two commands a new
# machine needs; everything they depend on is built by hack/ into a cache
# outside the clone ($HOME/.cache/oauth-injector), keyed by version.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# The commit time stamps image files and configs, so one commit gives one digest.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# Images are REGISTRY/<name>:VERSION; the chart's default image.registry.
REGISTRY ?= localhost:5000/oauth-injector
LDFLAGS := -s -w -X github.com/oauth-injector/oauth-injector/internal/injectorcli.Version=$(VERSION)
BIN := $(CURDIR)/bin
TOOLS_ENV = $(shell ./hack/tools.sh env)
KUBEBUILDER_ASSETS ?= $(shell ./hack/tools.sh env | sed -n 's/^KUBEBUILDER_ASSETS=//p')
HELM ?= $(shell ./hack/tools.sh env | sed -n 's/^HELM=//p')
CONTROLLER_GEN ?= $(shell ./hack/tools.sh env | sed -n 's/^CONTROLLER_GEN=//p')
GOLANGCI_LINT ?= $(shell ./hack/tools.sh env | sed -n 's/^GOLANGCI_LINT=//p')
CNI_BIN_DIR ?= $(shell ./hack/tools.sh env | sed -n 's/^CNI_BIN_DIR=//p')
export KUBEBUILDER_ASSETS HELM CNI_BIN_DIR

.PHONY: all build images push test-node tools generate verify-generated test test-go lint demo bench clean

all: build

# Every binary that goes into an image is static (no libc in the images).
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/injector ./cmd/webhook ./hack/taapsim ./hack/demoapp ./hack/pause

# OCI archives in bin/images (what the local node imports) without Docker.
images: build
	$(GO) run ./hack/images -bin $(BIN) -out $(BIN)/images -registry $(REGISTRY) \
	  -version $(VERSION) -revision $(REVISION) -source-date-epoch $(SOURCE_DATE_EPOCH)

# make push REGISTRY=registry.example.com/team (credentials: ~/.docker/config.json)
push: build
	$(GO) run ./hack/images -bin $(BIN) -out $(BIN)/images -registry $(REGISTRY) \
	  -version $(VERSION) -revision $(REVISION) -source-date-epoch $(SOURCE_DATE_EPOCH) -push

tools:
	./hack/tools.sh all

# Regenerates deepcopy and the CRD, and copies the CRD into the chart.
generate:
	./hack/tools.sh controller-gen
	$(CONTROLLER_GEN) object paths=./api/... crd paths=./api/... output:crd:artifacts:config=config/crd
	mkdir -p charts/oauth-injector/crds
	cp config/crd/*.yaml charts/oauth-injector/crds/

# Fails when generated files differ from what is committed.
verify-generated: generate
	@if ! git diff --quiet -- api config/crd charts/oauth-injector/crds; then \
	  git --no-pager diff --stat -- api config/crd charts/oauth-injector/crds; \
	  echo "generated files are stale: run 'make generate' and commit" >&2; exit 1; fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	./hack/tools.sh golangci-lint
	$(GOLANGCI_LINT) run --timeout 10m ./...

# Every test: unit, golden, fuzz seed corpora, the built-binary e2e, the
# oidc-provider suite, the real kube-apiserver suite, and the real-node tier
# (test/node: pods on a real kubelet). The node tier runs on its own, after
# the rest, so its pods do not compete with the other suites for the CPU;
# on a host that cannot run containers it is skipped and this says why.
test: tools verify-generated
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(HELM) lint charts/oauth-injector
	$(GO) test -count=1 -timeout 45m $$($(GO) list ./... | grep -v /test/node)
	cd bench/stackfloor && $(GO) vet ./... && $(GO) test -count=1 ./...
	@$(MAKE) -s test-node

# The real-node tier alone (needs root; see README).
test-node:
	@if reason=$$($(GO) run ./hack/localnode/cmd/localnode preflight 2>&1); then \
	  echo "==> node tier: this host can run containers; running test/node"; \
	else echo "==> node tier SKIPPED: $${reason#localnode: }"; fi
	$(GO) test -count=1 -timeout 30m -v ./test/node/ 2>&1 | grep -E '^(=== RUN|--- |\s+--- |node tier|PASS|FAIL|ok|panic)|_test.go' ; \
	  exit $${PIPESTATUS[0]}

# Part 1: the sidecar alone against the TAAP simulator. Part 2: the full
# Kubernetes path. On a host that can run containers that is a real node
# (hack/localnode): the chart's webhook Deployment injects the sidecar into
# a demo Deployment whose app calls the TAAP simulator pod. Elsewhere it
# says why in one line and runs the process-level path (control plane only,
# the injected sidecar run from the mutated pod spec).
demo: build tools
	$(GO) run ./hack/demo -bin $(BIN)
	@echo
	@if reason=$$($(GO) run ./hack/localnode/cmd/localnode preflight 2>&1); then \
	  echo "==> Kubernetes path on a real node: examples/bindings/taap.yaml, chart, webhook Deployment, demo app pod"; \
	  CI=true $(GO) test -count=1 -run '^TestNodeDemo$$' -v ./test/node/ 2>&1 \
	    | sed -e 's/^ *demo_test.go:[0-9]*: //' | grep -v -e '^=== RUN' ; \
	  status=$${PIPESTATUS[0]}; if [ $$status -ne 0 ]; then echo "DEMO FAILED (real node)"; exit $$status; fi; \
	  echo; echo "DEMO OK: a real pod's injected sidecar called the TAAP simulator; PoP, access token and ID token verified."; \
	else \
	  echo "==> real node unavailable ($${reason#localnode: }); falling back to the process-level Kubernetes path"; \
	  CI=true $(GO) test -count=1 -run '^TestDemoTAAPExample$$' -v ./test/e2e/ 2>&1 \
	    | sed -e 's/^ *demo_test.go:[0-9]*: //' | grep -v -e '^=== RUN' ; \
	  status=$${PIPESTATUS[0]}; if [ $$status -ne 0 ]; then echo "DEMO FAILED (Kubernetes path)"; exit $$status; fi; \
	  echo; echo "DEMO OK: chart installed, pod injected, sidecar from the pod spec served a verified TAAP call."; \
	fi

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./internal/pop/ ./internal/refresher/ ./internal/signing/ ./internal/sidecar/ ./internal/sharedcache/
	./bench/load.sh

clean:
	rm -rf $(BIN) .cache
