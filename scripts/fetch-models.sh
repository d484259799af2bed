#!/usr/bin/env bash
# Fetch the pretrained face networks from their npm package, pinned by version and checked
# by sha256, and unpack only the weight files into models/ (git-ignored).
#   scripts/fetch-models.sh   (setup.sh runs it; quick when the files are already there)
# Environment: DOPPEL_MODELS_DIR (default: <repo>/models).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PACKAGE="@vladmandic/face-api"
VERSION="1.7.15"
TARBALL="vladmandic-face-api-$VERSION.tgz"
SHA256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"
FILES=(
    ssd_mobilenetv1_model.bin ssd_mobilenetv1_model-weights_manifest.json
    face_landmark_68_model.bin face_landmark_68_model-weights_manifest.json
    face_landmark_68_tiny_model.bin face_landmark_68_tiny_model-weights_manifest.json
    face_recognition_model.bin face_recognition_model-weights_manifest.json
)

MODELS_DIR="${DOPPEL_MODELS_DIR:-$ROOT/models}"
DEST="$MODELS_DIR/face-api"
STAMP="$DEST/.source"
WANT_STAMP="$PACKAGE@$VERSION sha256:$SHA256"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT_STAMP" ]; then
    all=1
    for f in "${FILES[@]}"; do [ -s "$DEST/$f" ] || all=0; done
    if [ "$all" = 1 ]; then
        say "face networks present: $DEST ($PACKAGE@$VERSION)"
        exit 0
    fi
fi

command -v npm >/dev/null 2>&1 || die "npm is needed to fetch $PACKAGE (Debian: apt-get install npm)"
TARBALLS="$CACHE/downloads"
mkdir -p "$TARBALLS"
if [ ! -f "$TARBALLS/$TARBALL" ] || ! echo "$SHA256  $TARBALLS/$TARBALL" | sha256sum -c --status; then
    say "fetching $PACKAGE@$VERSION from the npm registry"
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
    (cd "$WORK" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
    [ -f "$WORK/$TARBALL" ] || die "npm pack did not produce $TARBALL"
    mv -f "$WORK/$TARBALL" "$TARBALLS/$TARBALL"
fi
if ! echo "$SHA256  $TARBALLS/$TARBALL" | sha256sum -c --status; then
    rm -f "$TARBALLS/$TARBALL"
    die "$TARBALL does not match its recorded sha256 ($SHA256): refusing to use it"
fi

mkdir -p "$DEST"
UNPACK="$(mktemp -d "$MODELS_DIR/.unpack.XXXXXX")"
members=()
for f in "${FILES[@]}"; do members+=("package/model/$f"); done
tar -xzf "$TARBALLS/$TARBALL" -C "$UNPACK" "${members[@]}"
for f in "${FILES[@]}"; do mv -f "$UNPACK/package/model/$f" "$DEST/$f"; done
rm -rf "$UNPACK"
printf '%s' "$WANT_STAMP" >"$STAMP"
say "face networks unpacked into $DEST"
