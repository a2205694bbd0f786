#!/bin/sh
# Trunk post-build hook: renames wasm-bindgen's output (named after the package, sdxl-vae) to the
# module's published names sdxl_vae.js / sdxl_vae_bg.wasm / sdxl_vae.d.ts in the staging folder.
set -eu
cd "${TRUNK_STAGING_DIR:?run by trunk}"
sed -e "s/sdxl-vae_bg\.wasm/sdxl_vae_bg.wasm/g" -e "s/sdxl-vae\.d\.ts/sdxl_vae.d.ts/g" sdxl-vae.js > sdxl_vae.js
rm sdxl-vae.js
mv sdxl-vae_bg.wasm sdxl_vae_bg.wasm
if [ -f sdxl-vae.d.ts ]; then
  sed 's/sdxl-vae_bg\.wasm/sdxl_vae_bg.wasm/g' sdxl-vae.d.ts > sdxl_vae.d.ts
  rm sdxl-vae.d.ts
fi
# A release build also writes the npm package pkg/ (from these files).
sh "${TRUNK_SOURCE_DIR:?run by trunk}/npm/package.sh"
