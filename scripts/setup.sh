#!/usr/bin/env bash
# Install what Doppel needs to build and run; skip whatever is already there.
#   scripts/setup.sh          build + run prerequisites
#   scripts/setup.sh --test   also what the tests need (Chromium, end2end npm deps)
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

WITH_TEST=0
for arg in "$@"; do
    case "$arg" in
        --test) WITH_TEST=1 ;;
        -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
        *) die "unknown option: $arg (usage: scripts/setup.sh [--test])" ;;
    esac
done

T0=$(now)

# --- Debian packages (apt_ensure is in common.sh) ------------------------------------
say "checking Debian packages (FFmpeg, clang, binaryen)"
apt_ensure libavcodec-dev libavformat-dev libavutil-dev libswscale-dev \
    libswresample-dev libavfilter-dev libavdevice-dev pkg-config clang \
    libclang-dev binaryen ffmpeg

# --- Rust ------------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1 || ! command -v rustc >/dev/null 2>&1; then
    die "Rust is not installed: install it with rustup (https://rustup.rs), then rerun"
fi
say "native Rust: $(rustc --version)"

# --- wasm32 toolchain --------------------------------------------------------------
RUSTUP_FAILED_MARK="$CACHE/rustup-wasm-target-failed"
MODE=""
if [ -n "${DOPPEL_WASM_MODE:-}" ]; then
    MODE="$DOPPEL_WASM_MODE"
    say "wasm32 toolchain: $MODE (forced by DOPPEL_WASM_MODE)"
    [ "$MODE" = build-std ] && apt_ensure rustc-web cargo-web rust-web-src lld-22
elif wasm_std_prebuilt; then
    MODE=rustup
elif [ -e "$RUSTUP_FAILED_MARK" ] && debian_web_rust_ready; then
    # rustup failed here before: don't wait for its timeout again.
    MODE=build-std
else
    if command -v rustup >/dev/null 2>&1 && [ ! -e "$RUSTUP_FAILED_MARK" ]; then
        say "adding the $WASM_TARGET target with rustup (timeout ${DOPPEL_RUSTUP_TIMEOUT:-60}s)"
        if timeout -k 5 "${DOPPEL_RUSTUP_TIMEOUT:-60}" rustup target add "$WASM_TARGET" </dev/null &&
            wasm_std_prebuilt; then
            MODE=rustup
        else
            warn "rustup could not add $WASM_TARGET; falling back to Debian's rustc-web + -Z build-std"
            date >"$RUSTUP_FAILED_MARK"
        fi
    fi
    if [ -z "$MODE" ]; then
        apt_ensure rustc-web cargo-web rust-web-src lld-22
        debian_web_rust_ready ||
            die "no wasm32 toolchain: neither rustup's $WASM_TARGET target nor Debian's rustc-web/rust-web-src/lld-22 is usable"
        MODE=build-std
    fi
fi
echo "$MODE" >"$CACHE/wasm-mode"
case "$MODE" in
    rustup)    say "wasm32 toolchain: rustup target $WASM_TARGET ($(rustc --version))" ;;
    build-std) say "wasm32 toolchain: Debian $(/usr/bin/rustc --version) with -Z build-std" ;;
esac

# --- wasm-bindgen-cli (exactly the version in Cargo.lock) ----------------------------
WB_WANT="$(locked_wasm_bindgen_version)"
[ -n "$WB_WANT" ] || die "could not find the wasm-bindgen version in Cargo.lock"
WB_HAVE="$(installed_wasm_bindgen_version)"
if [ "$WB_HAVE" = "$WB_WANT" ]; then
    say "wasm-bindgen $WB_HAVE present"
else
    say "installing wasm-bindgen-cli $WB_WANT (have: ${WB_HAVE:-none}); this takes several minutes"
    # No --locked: its lock file names a dependency version missing from the index.
    # A private target dir keeps the build out of the project's, and lets an
    # interrupted install resume; it is removed afterwards.
    t=$(now)
    cargo install wasm-bindgen-cli --version "$WB_WANT" --force \
        --root "${CARGO_HOME:-$HOME/.cargo}" --target-dir "$CACHE/target-tools" </dev/null
    rm -rf "$CACHE/target-tools"
    hash -r
    WB_HAVE="$(installed_wasm_bindgen_version)"
    [ "$WB_HAVE" = "$WB_WANT" ] ||
        die "wasm-bindgen on PATH is '${WB_HAVE:-none}' ($(command -v wasm-bindgen || true)), expected $WB_WANT"
    say "wasm-bindgen $WB_HAVE installed in $(( $(now) - t ))s"
fi

# --- test prerequisites --------------------------------------------------------------
if [ "$WITH_TEST" -eq 1 ]; then
    say "checking test prerequisites (Chromium, Node.js)"
    apt_ensure chromium chromium-driver
    # Mesa's lavapipe: a Vulkan driver on the CPU, so the GPU (wgpu) tests run without a GPU.
    apt_ensure libvulkan1 mesa-vulkan-drivers
    # Node may come from NodeSource (which bundles npm): check commands, not packages.
    command -v node >/dev/null 2>&1 || apt_ensure nodejs
    command -v npm >/dev/null 2>&1 || apt_ensure npm
    if [ -f end2end/package.json ]; then
        stamp=end2end/node_modules/.package-lock.json
        if [ -f "$stamp" ] && [ "$stamp" -nt end2end/package.json ] &&
            { [ ! -f end2end/package-lock.json ] || [ "$stamp" -nt end2end/package-lock.json ]; }; then
            say "end2end npm dependencies up to date"
        else
            say "installing end2end npm dependencies"
            # playwright-core only drives the system Chromium; never download browsers.
            export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
            if [ -f end2end/package-lock.json ]; then
                (cd end2end && npm ci --no-audit --no-fund </dev/null)
            else
                (cd end2end && npm install --no-audit --no-fund </dev/null)
            fi
            mkdir -p end2end/node_modules && touch "$stamp"
        fi
    fi
fi

# --- pretrained face networks (npm package, pinned and checksummed) -----------------
bash "$ROOT/scripts/fetch-models.sh"

say "setup done in $(( $(now) - T0 ))s"
