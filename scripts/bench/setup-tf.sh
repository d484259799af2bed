#!/usr/bin/env bash
# The TensorFlow reference for `doppel bench train`: a virtualenv outside the clone with
# tensorflow-cpu from PyPI, pinned. Made on first use; not part of the README's two commands.
set -euo pipefail

VERSION="2.21.0"
VENV="${DOPPEL_CACHE:-$HOME/.cache/doppel}/bench-venv-tf-$VERSION"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import tensorflow" 2>/dev/null; then
    echo "$VENV/bin/python"
    exit 0
fi
echo "==> installing tensorflow-cpu $VERSION into $VENV (once, about 600 MB)" >&2
python3 -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "tensorflow-cpu==$VERSION" >&2
echo "$VENV/bin/python"
