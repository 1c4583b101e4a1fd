# Coracle: a small, real Kubernetes. See README.md.

GO      ?= go
BIN     := $(CURDIR)/bin
# Every test of every module, unit to end-to-end, within CI's budget.
TEST_TIMEOUT ?= 75m

.PHONY: all build test deps lint bench up down clean

all: build

## build: every binary of every module into bin/; the add-ons (deploy/addons/*),
## static, into bin/addons/, whence make up packs them into images
ADDONS := $(patsubst %/go.mod,./%,$(wildcard deploy/addons/*/go.mod))
build:
	$(GO) build -o $(BIN)/ $$($(GO) list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' work | grep -v '^coracle.dev/addons/')
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/addons/ $(ADDONS)

## deps: install, idempotently, the Debian packages the tests and the cluster need
deps:
	deploy/install-deps.sh

## test: install what the tests need, build, and run every test of every module
test: deps build
	CORACLE_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) work

## lint: gofmt and go vet over the workspace
lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet work

## bench: Go benchmarks and the apiserver load program; prints the figures
bench: build
	deploy/bench.sh

## up: run the cluster on this machine (state in /var/lib/coracle, logs in /var/log/coracle);
## NODES=3 adds two nodes, each in its own network namespace, joined with a token
## DISABLE=dns,ingress leaves those add-ons off (their objects are deleted)
NODES ?= 1
DISABLE ?=
up: deps build
	CORACLE_NODES=$(NODES) CORACLE_DISABLE=$(DISABLE) deploy/local-up.sh

## down: stop the local cluster, keeping its state
down:
	deploy/local-down.sh

clean:
	rm -rf $(BIN)
