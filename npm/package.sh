#!/bin/sh
# Writes the npm package pkg/ from a release build (`trunk build --release`; web/stable-names.sh
# calls this once the module has its published names). `npm pack ./pkg` makes the tarball.
#   pkg/sdxl_vae.js, sdxl_vae_bg.wasm, sdxl_vae.d.ts   the module ("sdxl-vae")
#   pkg/worker/vae-client.js, vae-client.d.ts         VaeWorker ("sdxl-vae/worker")
#   pkg/worker/vae-worker.js, failure.js              the worker it starts (imports ../sdxl_vae.js), errors with a code
#   pkg/package.json, README.md                       name, version and licence from Cargo.toml
# Debug builds (`trunk serve`) leave pkg/ alone.
set -eu
[ "${TRUNK_PROFILE:-}" = release ] || exit 0
staging="${TRUNK_STAGING_DIR:?run by trunk}"
root="${TRUNK_SOURCE_DIR:?run by trunk}"
out="$root/pkg"

# A key of Cargo.toml's [package] table, escaped for a JSON string.
field() {
  sed -n '/^\[package\]/,/^\[/s/^'"$1"' *= *"\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1 |
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'
}
version=$(field version)
license=$(field license)
description=$(field description)
[ -n "$version" ] && [ -n "$license" ] || { echo "npm/package.sh: no version or license in Cargo.toml" >&2; exit 1; }

# Made aside and moved into place only when it differs: `trunk serve --release` watches the
# project folder, and rewriting pkg/ on every build would start the next one.
new=$(mktemp -d)
trap 'rm -rf "$new"' EXIT
mkdir -p "$new/worker"
cp "$staging/sdxl_vae.js" "$staging/sdxl_vae_bg.wasm" "$staging/sdxl_vae.d.ts" "$new/"
cp "$root/web/vae-client.js" "$root/web/vae-client.d.ts" "$root/web/vae-worker.js" "$root/web/failure.js" "$new/worker/"
cp "$root/npm/README.md" "$new/README.md"
cat > "$new/package.json" <<JSON
{
  "name": "sdxl-vae",
  "version": "$version",
  "description": "$description",
  "license": "$license",
  "type": "module",
  "main": "./sdxl_vae.js",
  "module": "./sdxl_vae.js",
  "types": "./sdxl_vae.d.ts",
  "exports": {
    ".": { "types": "./sdxl_vae.d.ts", "default": "./sdxl_vae.js" },
    "./worker": { "types": "./worker/vae-client.d.ts", "default": "./worker/vae-client.js" },
    "./worker/vae-worker.js": "./worker/vae-worker.js",
    "./sdxl_vae_bg.wasm": "./sdxl_vae_bg.wasm",
    "./package.json": "./package.json"
  },
  "files": [
    "sdxl_vae.js",
    "sdxl_vae_bg.wasm",
    "sdxl_vae.d.ts",
    "worker/",
    "README.md"
  ],
  "sideEffects": ["./worker/vae-worker.js"],
  "keywords": ["stable-diffusion", "sdxl", "vae", "webgpu", "wasm", "autoencoder"]
}
JSON
if diff -r "$new" "$out" >/dev/null 2>&1; then
  echo "npm/package.sh: $out is up to date (sdxl-vae $version)"
else
  rm -rf "$out"
  mkdir -p "$out"
  cp -R "$new/." "$out/"
  echo "npm/package.sh: wrote $out (sdxl-vae $version)"
fi
