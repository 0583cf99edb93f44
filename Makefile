# The two Quick start commands (README.md): `make run` and `make test`. Both set up what they need first.
SHELL := /bin/bash
# Tools installed by scripts/setup.sh: cargo-leptos and wasm-bindgen in ~/.cargo/bin, binaryen's wasm-opt from npm.
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: setup run test dist check test-rust test-pg e2e e2e-pg cluster load-smoke
setup:
	scripts/setup.sh

## Build the release site (precompressed: brotli and gzip beside each client file) and serve it at
## http://127.0.0.1:3000 on the embedded SQLite default (data/gif-chat.db).
run: setup
	cargo leptos serve --release --precompress

## Build, then run every test: formatting and lints, Rust unit and integration tests on SQLite and on a throwaway
## PostgreSQL server, the load tool's smoke run, the release artifact, a local cluster, and the Playwright suite in
## Chromium on both stores. A test that needs a server that is missing fails here. This is CI's command.
test: setup
	scripts/test.sh

## One part at a time (scripts/test.sh says what each step does).
check: setup
	scripts/test.sh check
## Rust tests on SQLite; those that need NATS, nginx or PostgreSQL servers that are not installed are skipped.
test-rust: setup
	scripts/test.sh rust
test-pg: setup
	scripts/test.sh pg
e2e: setup
	scripts/test.sh e2e
e2e-pg: setup
	scripts/test.sh e2e-pg
cluster: setup
	scripts/test.sh cluster
load-smoke: setup
	scripts/test.sh load-smoke

## The release artifact: dist/gif-chat-<version>-<arch>-linux.tar.gz (server binary, site, README, docs/operating.md),
## a release build that runs anywhere with flags or environment only (docs/operating.md).
dist: setup
	scripts/dist.sh
