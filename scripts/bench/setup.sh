#!/usr/bin/env bash
# Install the npm packages of the face-api.js reference benchmark (scripts/bench/) exactly as
# package-lock.json pins them. Does nothing when node_modules already matches the lock file
# (its sha256 is kept in node_modules/.doppel-lock-hash). Needs Node + npm and the npm registry.
#   scripts/bench/setup.sh
set -euo pipefail

case "${1:-}" in
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    "") ;;
    *) printf '==> ERROR: unknown option: %s (usage: scripts/bench/setup.sh)\n' "$1" >&2; exit 1 ;;
esac

say() { printf '==> %s\n' "$*"; }
die() { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$BENCH"

command -v node >/dev/null 2>&1 || die "node is not installed (the benchmark needs Node >= 18)"
command -v npm >/dev/null 2>&1 || die "npm is not installed"
[ -f package-lock.json ] || die "$BENCH/package-lock.json is missing"

NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" -ge 18 ] || die "Node $(node --version) is too old: the benchmark needs Node >= 18"

STAMP=node_modules/.doppel-lock-hash
WANT="$(sha256sum package-lock.json | cut -d' ' -f1)"
HAVE=""
[ -f "$STAMP" ] && HAVE="$(cat "$STAMP")"

if [ -d node_modules ] && [ "$HAVE" = "$WANT" ]; then
    say "scripts/bench/node_modules is up to date"
    exit 0
fi

if [ -d node_modules ]; then
    say "scripts/bench/node_modules is stale: reinstalling from package-lock.json"
else
    say "installing scripts/bench/node_modules from package-lock.json"
fi
# npm ci removes any existing node_modules first, so a half-done install never looks current:
# the stamp is written only after it succeeded.
npm ci --no-audit --no-fund
printf '%s\n' "$WANT" > "$STAMP"
say "installed: $(node -p '["@vladmandic/face-api", "@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm"].map((p) => p + "@" + require("./node_modules/" + p + "/package.json").version).join(" ")')"
