#!/usr/bin/env bash
# Build the browser bundle into site/ (served by `doppel serve --site-dir site`):
#   site/pkg/doppel.js, site/pkg/doppel.wasm   the hydrate front end (crate `frontend`)
#   site/pkg/doppel.css                         style/*.css (main.css first)
#   site/*                                      copied from public/
# Usage: scripts/build-site.sh [--release] [--fast]
#   --release  optimized bundle, profile wasm-release (the default; accepted for clarity)
#   --fast     skip wasm-opt (the default, see below)
# wasm-opt runs only with DOPPEL_WASM_OPT=1: Debian's binaryen 108 corrupts the function
# table of modules from current rustc (the browser then fails in WebAssembly.Table.set),
# and with -all it writes types Chromium rejects. The bundle is already built at opt-level z
# with LTO, and the server compresses it on the wire (3.3 MB -> ~0.7 MB gzip).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

WASM_OPT="${DOPPEL_WASM_OPT:-0}"
for arg in "$@"; do
    case "$arg" in
        --release) ;;
        --fast) WASM_OPT=0 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) die "unknown option: $arg (usage: scripts/build-site.sh [--release] [--fast])" ;;
    esac
done

T0=$(now)
MODE="$(wasm_mode)"
[ "$MODE" != none ] || die "no wasm32 toolchain found; run scripts/setup.sh first"

WB_WANT="$(locked_wasm_bindgen_version)"
WB_HAVE="$(installed_wasm_bindgen_version)"
[ "$WB_HAVE" = "$WB_WANT" ] ||
    die "wasm-bindgen ${WB_HAVE:-not found}, Cargo.lock needs $WB_WANT; run scripts/setup.sh"

# --- (a) compile the front end to wasm32 ---------------------------------------------
say "building the front end for $WASM_TARGET (profile $WASM_PROFILE, toolchain: $MODE)"
t=$(now)
wasm_cargo "$MODE" build -p frontend --lib --target "$WASM_TARGET" --profile "$WASM_PROFILE"
case "$WASM_PROFILE" in
    dev) PROFILE_DIR=debug ;;
    *) PROFILE_DIR="$WASM_PROFILE" ;;
esac
RAW_WASM="$WASM_TARGET_DIR/$WASM_TARGET/$PROFILE_DIR/frontend.wasm"
[ -f "$RAW_WASM" ] || die "cargo did not produce $RAW_WASM"
say "compiled in $(( $(now) - t ))s: frontend.wasm $(hsize "$RAW_WASM")"

# --- (b) wasm-bindgen and (c) wasm-opt, cached by the input's hash ---------------------
OPT_DESC=none
if [ "$WASM_OPT" != 0 ]; then
    if command -v wasm-opt >/dev/null 2>&1; then
        OPT_DESC="-Oz ${WASM_OPT_FEATURES[*]} ($(wasm-opt --version 2>/dev/null | head -n1))"
    else
        warn "wasm-opt not found (Debian package binaryen): the bundle stays unoptimized"
        WASM_OPT=0
    fi
fi
PKG_CACHE="$CACHE/wasm-pkg/$WASM_PROFILE"
KEY="$(sha256sum "$RAW_WASM" | cut -d' ' -f1) wasm-bindgen=$WB_HAVE opt=$OPT_DESC"
if [ -f "$PKG_CACHE/key" ] && [ "$(cat "$PKG_CACHE/key")" = "$KEY" ] && [ -d "$PKG_CACHE/pkg" ]; then
    say "front end unchanged: reusing the processed bundle"
else
    mkdir -p "$CACHE/wasm-pkg"
    WORK="$(mktemp -d "$CACHE/wasm-pkg/tmp.XXXXXX")"
    chmod 755 "$WORK"
    trap 'rm -rf "$WORK"' EXIT
    say "wasm-bindgen $WB_HAVE"
    wasm-bindgen --target web --no-typescript --out-dir "$WORK/pkg" --out-name doppel "$RAW_WASM"
    say "after wasm-bindgen: $(hsize "$WORK/pkg/doppel_bg.wasm")"
    if [ "$WASM_OPT" != 0 ]; then
        say "wasm-opt -Oz"
        t=$(now)
        if wasm-opt -Oz "${WASM_OPT_FEATURES[@]}" -o "$WORK/opt.wasm" "$WORK/pkg/doppel_bg.wasm"; then
            mv -f "$WORK/opt.wasm" "$WORK/pkg/doppel_bg.wasm"
            say "after wasm-opt ($(( $(now) - t ))s): $(hsize "$WORK/pkg/doppel_bg.wasm")"
        else
            warn "wasm-opt failed: keeping the unoptimized bundle"
            KEY="${KEY% opt=*} opt=failed"
        fi
    else
        say "wasm-opt skipped"
    fi
    printf '%s' "$KEY" >"$WORK/key"
    rm -rf "$PKG_CACHE"
    mv "$WORK" "$PKG_CACHE"
    trap - EXIT
fi

# --- (d) assemble site/ --------------------------------------------------------------
NEW="$(mktemp -d "$ROOT/.site.XXXXXX")"
trap 'rm -rf "$NEW"' EXIT
chmod 755 "$NEW"
mkdir -p "$NEW/pkg"
if [ -d public ] && [ -n "$(ls -A public)" ]; then
    cp -R public/. "$NEW/"
fi
cp "$PKG_CACHE/pkg/doppel.js" "$NEW/pkg/doppel.js"
# Leptos' hydration script (LEPTOS_OUTPUT_NAME set at compile time) loads
# pkg/doppel.wasm; doppel.js's own default is doppel_bg.wasm. Serve both names.
cp "$PKG_CACHE/pkg/doppel_bg.wasm" "$NEW/pkg/doppel.wasm"
ln "$NEW/pkg/doppel.wasm" "$NEW/pkg/doppel_bg.wasm" 2>/dev/null ||
    cp "$NEW/pkg/doppel.wasm" "$NEW/pkg/doppel_bg.wasm"
if [ -d "$PKG_CACHE/pkg/snippets" ]; then
    cp -R "$PKG_CACHE/pkg/snippets" "$NEW/pkg/"
fi
# Styles: main.css first, then the other style/*.css in name order.
shopt -s nullglob
CSS=()
[ -f style/main.css ] && CSS+=(style/main.css)
for f in style/*.css; do
    [ "$f" = style/main.css ] || CSS+=("$f")
done
shopt -u nullglob
if [ "${#CSS[@]}" -eq 0 ]; then
    warn "no style/*.css: writing an empty pkg/doppel.css"
    : >"$NEW/pkg/doppel.css"
else
    for f in "${CSS[@]}"; do
        printf '/* %s */\n' "$f"
        cat "$f"
        printf '\n'
    done >"$NEW/pkg/doppel.css"
fi
rm -rf "$SITE_DIR"
mv "$NEW" "$SITE_DIR"
trap - EXIT

GZ=""
command -v gzip >/dev/null 2>&1 && GZ=", $(gzip -9c "$SITE_DIR/pkg/doppel.wasm" | wc -c) bytes gzipped"
say "site ready in $(( $(now) - T0 ))s: $SITE_DIR"
say "  frontend.wasm $(hsize "$RAW_WASM") -> pkg/doppel.wasm $(hsize "$SITE_DIR/pkg/doppel.wasm")$GZ"
say "  pkg/doppel.js $(hsize "$SITE_DIR/pkg/doppel.js"), pkg/doppel.css $(hsize "$SITE_DIR/pkg/doppel.css") from ${#CSS[@]} file(s)"
