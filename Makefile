# tlsmatrix — the two commands that matter: `make matrix` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TLSMATRIX := $(BIN)/tlsmatrix
SCENARIOS ?= $(sort $(wildcard scenarios/*.toml))
BACKEND ?= process
ARGS ?=

.PHONY: setup venv toolchains probes images matrix regress test test-unit test-integration test-docker bench clean

setup: venv toolchains probes ## .venv with tlsmatrix installed (editable) + built probes

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Go comes from Debian (golang-1.19). As root we install it; otherwise the go stack is
# reported as `skipped` with the command to run.
toolchains:
	@if command -v go >/dev/null 2>&1 || ls /usr/lib/go-1.*/bin/go >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "[setup] installing Go from Debian (golang-1.19-go)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-1.19-go >/dev/null; \
	else echo "[setup] Go not found: run 'apt-get install golang-1.19-go' as root; the go stack will be skipped"; fi
	@if command -v gnutls-serv >/dev/null 2>&1 && command -v selfserv >/dev/null 2>&1 \
		&& [ -e /usr/include/wolfssl/ssl.h ] && command -v curl >/dev/null 2>&1 \
		&& [ -e /usr/include/openssl/ssl.h ] && command -v pkg-config >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "[setup] installing GnuTLS, NSS tools, wolfSSL and curl from Debian"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			gnutls-bin libnss3-tools libwolfssl-dev curl libssl-dev pkg-config >/dev/null; \
	else echo "[setup] missing: apt-get install gnutls-bin libnss3-tools libwolfssl-dev curl libssl-dev pkg-config; those stacks will be skipped"; fi
	@command -v cargo >/dev/null 2>&1 || [ -x "$$HOME/.cargo/bin/cargo" ] || \
		echo "[setup] cargo not found: install Rust (https://rustup.rs); the rustls stacks will be skipped"

probes: venv
	$(TLSMATRIX) build

# Server-stack images for --backend docker. Without a registry the Debian base image is
# bootstrapped locally (debootstrap + docker import; needs root). Cached: a second run builds nothing.
images: venv
	$(TLSMATRIX) images

matrix: setup $(if $(filter docker,$(BACKEND)),images)
	$(TLSMATRIX) matrix --backend $(BACKEND) $(SCENARIOS) $(ARGS)

test: setup
	$(BIN)/pytest $(ARGS)

test-unit: venv
	$(BIN)/pytest -m "not integration" $(ARGS)

test-integration: setup
	$(BIN)/pytest -m integration $(ARGS)

test-docker: setup images
	$(BIN)/pytest -m docker $(ARGS)

regress: setup
	$(TLSMATRIX) regress $(ARGS)

bench: setup
	$(BIN)/python -m harness.bench $(ARGS)

clean:
	-$(TLSMATRIX) clean
	rm -rf build results/latest results/cache results/tmp .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
