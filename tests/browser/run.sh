#!/usr/bin/env bash
# The browser tests: builds the page and the module (`trunk build --release` → dist/, and the npm
# package pkg/), checks the module's stable file names, then drives headless Chromium
# (tests/browser/*.test.js: the module and the page, then each under faults — soak, lost device,
# aborts, quota, odd inputs — the page on its workers, and the page under a sub-path;
# tests/package/: the packed package in an outside project).
set -euo pipefail
cd "$(dirname "$0")/../.."

# The page's modules parse (as ES modules; a syntax error otherwise shows only as a blank page).
for f in web/*.js; do
  node --input-type=module --check < "$f" || { echo "$f does not parse" >&2; exit 1; }
done

trunk build --release
for f in index.html sdxl_vae.js sdxl_vae_bg.wasm sdxl_vae.d.ts web/app.js web/vae-worker.js web/embed.html; do
  [ -f "dist/$f" ] || { echo "dist/$f is missing" >&2; exit 1; }
done
echo "dist/sdxl_vae_bg.wasm: $(stat -c %s dist/sdxl_vae_bg.wasm) bytes"
# The types carry the table of user options (src/api/options.rs).
for member in 'scalingFactor?: number;' 'precision?: "f32" | "f16";' 'maxBufferBytes?: number | string;'; do
  grep -qF "$member" dist/sdxl_vae.d.ts || { echo "dist/sdxl_vae.d.ts lacks $member" >&2; exit 1; }
done

for f in package.json README.md sdxl_vae.js sdxl_vae_bg.wasm sdxl_vae.d.ts worker/vae-client.js worker/vae-client.d.ts worker/vae-worker.js worker/failure.js; do
  [ -f "pkg/$f" ] || { echo "pkg/$f is missing" >&2; exit 1; }
done

[ -d tests/browser/node_modules/playwright-core ] || (cd tests/browser && npm ci --no-audit --no-fund)
[ -d tests/package/node_modules/vite ] || (cd tests/package && npm ci --no-audit --no-fund)
# A test that hangs (a stuck GPU process) fails after 10 minutes, naming itself, rather than
# holding the run until CI's limit; the slowest test takes under a minute here.
node --test --test-concurrency=1 --test-timeout=600000 tests/browser/module.test.js tests/browser/module-worker.test.js tests/browser/module-adapters.test.js tests/browser/module-families.test.js tests/browser/module-budget.test.js tests/browser/page.test.js \
  tests/browser/module-faults.test.js tests/browser/page-faults.test.js tests/browser/page-inputs.test.js \
  tests/browser/page-look.test.js tests/browser/page-worker.test.js tests/browser/errors.test.js tests/browser/pages.test.js tests/package/package.test.js
