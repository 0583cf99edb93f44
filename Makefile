# The two Quick start commands (README.md): `make run` and `make test`. Both set up what they need first.
SHELL := /bin/bash
# Tools installed by scripts/setup.sh: cargo-leptos and wasm-bindgen in ~/.cargo/bin, binaryen's wasm-opt from npm.
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: setup run test dist
setup:
	scripts/setup.sh

## Build the release site (precompressed: brotli and gzip beside each client file) and serve it at
## http://127.0.0.1:3000 on the embedded SQLite default (data/gif-chat.db).
run: setup
	cargo leptos serve --release --precompress

## Build, then run every test: Rust unit and integration tests, then the Playwright suite in Chromium.
test: setup
	scripts/test.sh

## The release artifact: dist/gif-chat-<version>-<arch>-linux.tar.gz (server binary, site, README, docs/operating.md),
## a release build that runs anywhere with flags or environment only (docs/operating.md).
dist: setup
	scripts/dist.sh
