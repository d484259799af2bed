# shellcheck shell=bash disable=SC2034
# Shared settings and helpers for the Doppel scripts. Source it, don't run it:
#   source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# After sourcing, the current directory is the repository root ($ROOT).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

say()  { printf '==> %s\n' "$*"; }
warn() { printf '==> WARNING: %s\n' "$*" >&2; }
die()  { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }

# Tools installed by `cargo install` (wasm-bindgen) live in ~/.cargo/bin.
if [ -d "$HOME/.cargo/bin" ]; then
    case ":$PATH:" in
        *":$HOME/.cargo/bin:"*) ;;
        *) export PATH="$HOME/.cargo/bin:$PATH" ;;
    esac
fi

# Build outputs live outside the clone so that repeated runs (and CI runs in
# fresh clones on the same machine) are incremental.
CACHE="${DOPPEL_CACHE:-$HOME/.cache/doppel}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
# The browser bundle gets its own target dir: on some machines it is built by
# another compiler (Debian's rustc-web), which would invalidate native builds.
WASM_TARGET_DIR="${DOPPEL_WASM_TARGET_DIR:-$CACHE/target-wasm}"
WASM_TARGET=wasm32-unknown-unknown
WASM_PROFILE="${DOPPEL_WASM_PROFILE:-wasm-release}"
SITE_DIR="$ROOT/site"
mkdir -p "$CACHE"

# LEPTOS_OUTPUT_NAME=doppel, which Leptos reads at compile time to name the bundle, is set
# for every cargo invocation by .cargo/config.toml.

# wasm-opt (binaryen) features used by current rustc's wasm32 output.
WASM_OPT_FEATURES=(--enable-bulk-memory --enable-nontrapping-float-to-int
    --enable-reference-types --enable-multivalue --enable-sign-ext
    --enable-mutable-globals)

# Run a command as root: directly, via sudo, or fail with a clear message.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (and there is no sudo) to run: $*"
    fi
}

# Seconds since the epoch with subsecond precision isn't needed: whole seconds.
now() { date +%s; }

# Size of a file in bytes.
fsize() { stat -c %s "$1" 2>/dev/null || wc -c <"$1"; }

# Human-readable size.
hsize() {
    local b; b=$(fsize "$1")
    if command -v numfmt >/dev/null 2>&1; then
        printf '%s (%s bytes)' "$(numfmt --to=iec --suffix=B --format='%.2f' "$b")" "$b"
    else
        printf '%s bytes' "$b"
    fi
}

# The wasm-bindgen version pinned in Cargo.lock (wasm-bindgen-cli must match it).
locked_wasm_bindgen_version() {
    awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# Version of the wasm-bindgen CLI on PATH, or empty.
installed_wasm_bindgen_version() {
    command -v wasm-bindgen >/dev/null 2>&1 || return 0
    wasm-bindgen --version 2>/dev/null | awk '{ print $2 }'
}

# --- wasm32 toolchain --------------------------------------------------------
# Two ways to build the browser bundle:
#   rustup     the active rustc ships a prebuilt std for wasm32-unknown-unknown
#              (normal machines: `rustup target add wasm32-unknown-unknown`).
#   build-std  Debian's rustc-web/cargo-web (+ rust-web-src, lld-22) in /usr/bin
#              build std from source (machines where rustup can't download the
#              target). Needs RUSTC_BOOTSTRAP=1 and -Z build-std.
# DOPPEL_WASM_MODE=rustup|build-std overrides the detection.

# Does the active rustc have a prebuilt wasm32 std?
wasm_std_prebuilt() {
    command -v rustc >/dev/null 2>&1 || return 1
    local dir
    dir="$(rustc --print target-libdir --target "$WASM_TARGET" 2>/dev/null)" || return 1
    [ -d "$dir" ] && compgen -G "$dir/libstd-*.rlib" >/dev/null
}

# Is Debian's web Rust (able to build std for wasm32) installed?
debian_web_rust_ready() {
    [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] &&
        [ -d /usr/lib/rustlib/src/rust/library ] &&
        [ -e /usr/bin/rust-lld ] && [ -x "$(readlink -f /usr/bin/rust-lld)" ]
}

# Prints rustup, build-std or none. Cheap (two file checks and one rustc call).
wasm_mode() {
    if [ -n "${DOPPEL_WASM_MODE:-}" ]; then
        printf '%s\n' "$DOPPEL_WASM_MODE"
    elif wasm_std_prebuilt; then
        echo rustup
    elif debian_web_rust_ready; then
        echo build-std
    else
        echo none
    fi
}

# Run cargo for the wasm32 target in the given mode; extra args are appended.
wasm_cargo() {
    local mode="$1"; shift
    case "$mode" in
        rustup)
            CARGO_TARGET_DIR="$WASM_TARGET_DIR" cargo "$@"
            ;;
        build-std)
            env -u RUSTC -u RUSTDOC -u RUSTC_WRAPPER -u RUSTUP_TOOLCHAIN \
                PATH="/usr/bin:$PATH" RUSTC_BOOTSTRAP=1 \
                CARGO_TARGET_DIR="$WASM_TARGET_DIR" \
                /usr/bin/cargo "$@" -Z build-std=std,panic_abort
            ;;
        *)
            die "no wasm32 toolchain (mode '$mode'); run scripts/setup.sh first"
            ;;
    esac
}

# --- Debian packages -----------------------------------------------------------------
HAVE_DPKG=0
command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && HAVE_DPKG=1
APT_UPDATED=0

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# apt_ensure PKG...: install the packages that are missing (apt-get update once).
apt_ensure() {
    local missing=() p
    if [ "$HAVE_DPKG" -eq 0 ]; then
        warn "not a Debian/Ubuntu system: make sure these are installed: $*"
        return 0
    fi
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    say "installing Debian packages: ${missing[*]}"
    if [ "$APT_UPDATED" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# --- GPU backend ----------------------------------------------------------------------
# choose_gpu_features: sets FEATURES (the doppel package's Cargo features: "wgpu", "cuda" or
# empty) and FEATURES_WHY for this machine. DOPPEL_FEATURES, even empty, overrides.
choose_gpu_features() {
    if [ -n "${DOPPEL_FEATURES+set}" ]; then
        FEATURES="$DOPPEL_FEATURES"
        FEATURES_WHY="set by DOPPEL_FEATURES"
    elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        FEATURES=wgpu
        FEATURES_WHY="NVIDIA GPU found by nvidia-smi; Doppel runs on it through its Vulkan driver (wgpu). Burn's CUDA backend (DOPPEL_FEATURES=cuda) is not chosen by itself: its build downloads LLVM from outside the package registries (see README)"
    elif [ "$(uname -s)" = Darwin ]; then
        FEATURES=wgpu
        FEATURES_WHY="macOS: the GPU through Metal (wgpu)"
    elif compgen -G '/dev/dri/renderD*' >/dev/null 2>&1 &&
        compgen -G '/usr/share/vulkan/icd.d/*.json' >/dev/null 2>&1; then
        FEATURES=wgpu
        FEATURES_WHY="a GPU render node (/dev/dri) with a Vulkan driver: AMD or Intel through Vulkan (wgpu)"
    else
        FEATURES=""
        FEATURES_WHY="no GPU found (no nvidia-smi, no /dev/dri render node with a Vulkan driver): the CPU backend"
    fi
}
