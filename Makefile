# tlsmatrix — the two commands that matter: `make matrix` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TLSMATRIX := $(BIN)/tlsmatrix
# versions.toml and post-quantum.toml need the client images (make images, about 11 minutes cold):
# `make versions` runs them
RELEASE_SCENARIOS := scenarios/versions.toml scenarios/post-quantum.toml
SCENARIOS ?= $(filter-out $(RELEASE_SCENARIOS),$(sort $(wildcard scenarios/*.toml)))
BACKEND ?= process
ARGS ?=

.PHONY: setup venv toolchains probes images matrix versions regress test test-unit test-integration test-docker bench clean

setup: venv toolchains probes ## .venv with tlsmatrix installed (editable) + built probes

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,docker,kube,boringssl]'  # every optional stack: a checkout runs them all
	touch $@

# The Debian packages the stacks need (Go 1.19, GnuTLS, NSS tools, wolfSSL, curl, a JDK, Node, ...)
# are listed once, in the stack descriptors: `tlsmatrix list --packages`. As root we install the
# missing ones; otherwise those stacks are reported as `skipped` with the command to run. Chromium is
# no stack: tests/unit/test_html_browser.py opens the HTML report in it (headless).
toolchains: venv
	@missing="$$($(TLSMATRIX) list --packages --missing)" || exit 1; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; missing="$$(echo $$missing)"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "[setup] installing from Debian: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "[setup] missing: apt-get install $$missing; those stacks will be skipped"; fi
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

# the versioned stacks (openssl@1.1.1 ... go@1.24 ... nss@3.110) side by side, in their releases' images,
# and the post-quantum questions (X25519MLKEM768, ML-DSA) across them
versions: setup images
	$(TLSMATRIX) matrix --backend $(BACKEND) $(RELEASE_SCENARIOS) $(ARGS)

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
	$(BIN)/python -m tlsmatrix.bench $(ARGS)

clean:
	-$(TLSMATRIX) clean
	rm -rf build results/latest results/cache results/tmp .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
