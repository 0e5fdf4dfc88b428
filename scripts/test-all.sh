#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need (socat,
# restic and OpenSSH's server from Debian, the emupos printer emulator and an OpenAPI validator
# in virtualenvs), then builds and runs all tests, doc tests and lints.
# This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "test peers"
# socat (pseudo-terminals for the serial devices), restic and OpenSSH's server (the off-site
# backups, sent to a real SFTP server on a localhost port), Chromium and its WebDriver (the web
# till's tests, in a real headless browser) and libfaketime, from Debian.
need=()
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v restic >/dev/null 2>&1 || need+=(restic)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# libfaketime: a posd whose clock reads far ahead, for the web till's clock check.
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] || need+=(libfaketime)
if [ ${#need[@]} -gt 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null
fi
bash scripts/install-emupos.sh
bash scripts/install-openapi-validator.sh

export EMUPOS_BIN="$PWD/.venv/emupos/bin/emupos"
export OPENAPI_VALIDATOR="$PWD/.venv/openapi/bin/openapi-spec-validator"
# The browser tests fail instead of skipping when Chromium is missing.
export POSD_REQUIRE_BROWSER=1

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
cargo test --workspace --all-targets --locked
step "doc tests"
cargo test --workspace --doc --locked

# pos-core is the crate vendors depend on: it must package and build on its own, with the pure
# format crate it re-exports (packaged together: cargo builds each against the other's package).
# (--allow-dirty: a run on a working copy with uncommitted changes packages those too.)
step "package pos-format and pos-core"
# cargo verifies pos-core against pos-format from a temporary local registry, whose crates it
# extracts under CARGO_HOME by name and version (the directories named `-<hash>`): a crate
# changed since an earlier run, under the same version, would be read from that earlier
# extraction. They are removed first (crates.io's own directory is left alone).
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/pos-format-* \
    "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/pos-core-*
cargo package -p pos-format -p pos-core --locked --allow-dirty

if [ -x scripts/fuzz-smoke.sh ]; then
    step "fuzz smoke"
    bash scripts/fuzz-smoke.sh
fi
