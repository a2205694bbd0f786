#!/usr/bin/env bash
# Every test of the project: installs what is missing (tests/setup.sh), then native tests on
# whatever wgpu adapter is present (Mesa lavapipe on a machine without a GPU — a missing adapter
# fails the GPU tests, it never skips them), the WebAssembly build check, then the page and the
# module in headless Chromium (tests/browser/).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh all

# lavapipe probes for a Wayland socket and complains when this is unset.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"

cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings
./tests/browser/run.sh
echo "all checks passed"
