#!/usr/bin/env bash
# Set up and run every test: Rust unit/integration tests (the GPU ones on lavapipe,
# a Vulkan driver on the CPU), the browser tests in end2end/ (against a real server
# and the real wasm bundle), and a compile check of the engine's CUDA backend.
# Environment:
#   DOPPEL_WASM_OPT=0         skip wasm-opt when building the bundle (quicker)
#   DOPPEL_SKIP_CUDA_CHECK=1  skip `cargo check -p doppel-engine --features doppel-engine/cuda`
# Later phases still run after a failed one (where they can); the exit status is
# non-zero if any phase failed.
set -euo pipefail
# Test builds are not edited and rebuilt line by line: incremental caches only fill the disk
# (27 GB of them after a day here).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    "") ;;
    *) die "unknown option: $1 (usage: scripts/test.sh)" ;;
esac

T_START=$(now)
SUMMARY=()
FAILED=()

# phase NAME CMD...: run one phase, time it, record the result. Returns its status.
phase() {
    local name="$1"; shift
    local t rc
    say "[$name] $*"
    t=$(now)
    ( "$@" ) && rc=0 || rc=$?
    t=$(( $(now) - t ))
    if [ "$rc" -eq 0 ]; then
        say "[$name] ok in ${t}s"
        SUMMARY+=("$(printf '%-14s %-8s %6ss' "$name" ok "$t")")
    else
        printf '==> [%s] FAILED (exit %s) after %ss\n' "$name" "$rc" "$t" >&2
        SUMMARY+=("$(printf '%-14s %-8s %6ss' "$name" FAILED "$t")")
        FAILED+=("$name")
    fi
    return "$rc"
}

skip() {
    say "[$1] skipped: $2"
    SUMMARY+=("$(printf '%-14s %-8s %7s' "$1" skipped "-")  $2")
}

finish() {
    say "summary"
    local line
    for line in "${SUMMARY[@]}"; do printf '    %s\n' "$line"; done
    printf '    %-14s %-8s %6ss\n' total "" "$(( $(now) - T_START ))"
    if [ "${#FAILED[@]}" -gt 0 ]; then
        printf '==> FAILED: %s\n' "${FAILED[*]}" >&2
        exit 1
    fi
    say "all tests passed"
    exit 0
}

# One test file at a time: an extraction test keeps both cores busy, and a page in another
# file then took over 20 s to compile its wasm and hydrate.
# shellcheck disable=SC2317  # called through phase
browser_tests() {
    cd "$ROOT/end2end" || return 1
    DOPPEL_BIN="$CARGO_TARGET_DIR/debug/doppel" DOPPEL_SITE_DIR="$SITE_DIR" \
        CHROMIUM_BIN="$(command -v chromium || true)" \
        node --test --test-concurrency=1 </dev/null
}

# Test files node's runner would pick up (outside node_modules).
have_browser_tests() {
    [ -d "$ROOT/end2end" ] || return 1
    [ -n "$(find "$ROOT/end2end" -path "$ROOT/end2end/node_modules" -prune -o -type f \
        \( -name '*.test.js' -o -name '*.test.mjs' -o -name '*.test.cjs' \
           -o -name '*-test.js' -o -name '*-test.mjs' -o -name '*_test.js' -o -name '*_test.mjs' \
           -o -name 'test-*.js' -o -name 'test-*.mjs' -o -name 'test.js' -o -name 'test.mjs' \
           -o -path '*/test/*.js' -o -path '*/test/*.mjs' \) -print -quit)" ]
}

phase setup bash "$ROOT/scripts/setup.sh" --test || finish

SITE_OK=1
phase site bash "$ROOT/scripts/build-site.sh" --release || SITE_OK=0

# The native crates; `app` only builds natively with its `ssr` feature. `wgpu` adds Burn's
# GPU backend: its tests run every engine stage on lavapipe (Mesa's Vulkan driver on the CPU,
# installed by the setup) and compare with the CPU backend.
# One package set for both commands: the same feature resolution, so the server binary for
# the browser tests reuses what the tests compiled instead of building a second variant.
PKGS=(-p doppel-engine -p doppel-fsio -p doppel-store -p doppel -p app --features app/ssr,doppel/wgpu)
phase cargo-test cargo test "${PKGS[@]}" || true

BIN_OK=1
phase server-build cargo build "${PKGS[@]}" --bins || BIN_OK=0

if ! have_browser_tests; then
    skip browser "no test files in end2end/"
elif [ "$SITE_OK" -eq 0 ] || [ "$BIN_OK" -eq 0 ]; then
    skip browser "the site or the server did not build"
    FAILED+=(browser)
else
    phase browser browser_tests || true
fi

if [ "${DOPPEL_SKIP_CUDA_CHECK:-0}" = 1 ]; then
    skip cuda-check "DOPPEL_SKIP_CUDA_CHECK=1"
else
    # DOCS_RS=1: cubecl's LLVM bundler downloads LLVM in its build script, which cannot
    # happen offline; with DOCS_RS set it skips that (as on docs.rs), and a type check
    # needs no LLVM. A real CUDA build happens on a GPU server with network access.
    # The engine alone: all CUDA code is there (the server only passes the feature on), and a
    # cold check of the web crates as well cost minutes of CI for nothing.
    phase cuda-check env DOCS_RS=1 cargo check -p doppel-engine --features doppel-engine/cuda || true
fi

finish
