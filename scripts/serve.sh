#!/usr/bin/env bash
# Set up, build and run Doppel: http://127.0.0.1:3000 by default.
# Usage: scripts/serve.sh [doppel serve options...]   e.g. --port 8080 --data-dir /srv/doppel
# Environment: DOPPEL_WASM_OPT=0 skips wasm-opt; DOPPEL_SKIP_SETUP=1 skips scripts/setup.sh;
#   DOPPEL_FEATURES=wgpu|cuda|"" overrides the GPU backend found for this machine.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
esac

choose_gpu_features
say "GPU backend: ${FEATURES:-none (CPU only)}: $FEATURES_WHY"

if [ "${DOPPEL_SKIP_SETUP:-0}" != 1 ]; then
    bash "$ROOT/scripts/setup.sh"
fi
bash "$ROOT/scripts/build-site.sh" --release

if [[ ",$FEATURES," == *,wgpu,* ]]; then
    # wgpu loads the Vulkan loader at run time; the GPU's own driver provides the rest.
    [ "$(uname)" = Darwin ] || apt_ensure libvulkan1
fi
FEATURE_ARGS=()
[ -n "$FEATURES" ] && FEATURE_ARGS=(--features "$FEATURES")
say "building the server (cargo build --release -p doppel ${FEATURE_ARGS[*]})"
t=$(now)
cargo build --release -p doppel "${FEATURE_ARGS[@]}"
say "server built in $(( $(now) - t ))s"

BIN="$CARGO_TARGET_DIR/release/doppel"
[ -x "$BIN" ] || die "cargo did not produce $BIN"
say "starting: doppel serve --site-dir $SITE_DIR $*"
exec "$BIN" serve --site-dir "$SITE_DIR" "$@"
