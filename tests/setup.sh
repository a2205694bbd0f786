#!/usr/bin/env bash
# Installs what is missing, on Debian/Ubuntu with rustup: `page` for serving the page (the wasm
# target, trunk, the wasm-bindgen-cli of Cargo.lock's version), `all` (the default) for every test
# besides (Mesa's lavapipe, Debian's Chromium, node + npm, the browser tests' npm packages).
# What is present is kept: a second run installs nothing. Debian packages go through sudo when not
# root.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
case "$what" in page | all) ;; *) echo "usage: tests/setup.sh [page|all]" >&2; exit 2 ;; esac
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

command -v cargo >/dev/null && command -v rustup >/dev/null || {
  echo "Rust is missing: install it with rustup (https://rustup.rs), then run this again" >&2
  exit 1
}

need_apt=()
if [ "$what" = all ]; then
  ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || need_apt+=(mesa-vulkan-drivers)
  # The browser tests drive Debian's Chromium (never a downloaded browser).
  command -v chromium >/dev/null || need_apt+=(chromium chromium-driver)
  command -v node >/dev/null || need_apt+=(nodejs)
  command -v npm >/dev/null || need_apt+=(npm)
fi
command -v cc >/dev/null || need_apt+=(build-essential)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# rust-toolchain.toml names the target and components; rustup adds what is missing.
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
if [ "$what" = all ]; then
  for c in rustfmt clippy; do
    rustup component list --installed | grep -q "^$c" || rustup component add "$c"
  done
fi

# wasm-bindgen-cli must be exactly the wasm-bindgen crate version the lock file holds.
bindgen_version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]; then
  cargo install --locked wasm-bindgen-cli --version "$bindgen_version" ||
    cargo install wasm-bindgen-cli --version "$bindgen_version"
fi
# trunk 0.22 needs a newer rustc than this project's.
if [ "$(trunk --version 2>/dev/null)" != "trunk 0.21.14" ]; then
  cargo install --locked trunk --version 0.21.14 || cargo install trunk --version 0.21.14
fi

if [ "$what" = all ] && [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund)
fi
if [ "$what" = all ] && [ ! -d tests/package/node_modules/vite ]; then
  (cd tests/package && npm ci --no-audit --no-fund)
fi
