// The page as GitHub Pages hosts a project: built with `trunk build --release --public-url
// /sdxl-vae/` and served only under http://127.0.0.1:PORT/sdxl-vae/ (anything else 404s). The
// page, the module, its wasm and the worker must find their files relative to the page.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { FIXTURES, ROOT, launch, makeWeights, openWithWebGpu, readNpy, startServer } from "./harness.js";

const BASE = "/sdxl-vae/";
let dist, weightsDir, srv, context, page, logs;
const failed = [];

before(async () => {
  dist = join(mkdtempSync(join(tmpdir(), "sdxl-vae-pages-")), "dist");
  const t0 = Date.now();
  execFileSync("trunk", ["build", "--release", "--public-url", BASE, "--dist", dist],
    { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  console.log(`trunk build --release --public-url ${BASE}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (const f of ["index.html", "sdxl_vae.js", "sdxl_vae_bg.wasm", "web/app.js", "web/vae-worker.js"]) {
    assert.ok(existsSync(join(dist, f)), `${f} is missing from the build`);
  }
  weightsDir = makeWeights();
  srv = await startServer(weightsDir, { root: dist, under: BASE });
  context = await launch();
  ({ page, logs } = await openWithWebGpu(context, `${srv.base}/blank.html`));
  page.on("response", (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
  page.on("requestfailed", (r) => failed.push(`failed ${r.url()}`));
});

after(async () => {
  if (logs?.length) console.log(logs.join("\n"));
  await context?.close();
  srv?.server.close();
  if (dist) rmSync(dirname(dist), { recursive: true, force: true });
});

/** Requests outside the sub-path other than the test's weights and fixtures (and the favicon
 *  the browser asks the site's root for by itself, which a page cannot redirect). */
const strays = () => srv.requests.filter((p) => !p.startsWith(BASE) && !/^\/(weights|fixtures)\//.test(p)
  && p !== "/blank.html" && p !== "/favicon.ico");

describe(`page under ${BASE}`, () => {
  test("loads weights, encodes and decodes an image, with every file found under the sub-path", async () => {
    await page.goto(`${srv.base}${BASE}?weights=/weights/small.safetensors`);
    await page.waitForFunction(() => ["loaded", "error"].includes(document.body.dataset.state), null, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), "loaded",
      await page.textContent("#error-text"));
    await page.setInputFiles("#image-file", join(FIXTURES, "img_64x48.png"));
    await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), "done", await page.textContent("#error-text"));
    assert.match(await page.textContent("#sizes"), /image 64×48, latent 4×6×8/);
    assert.match(await page.textContent("#psnr"), /dB/);
    for (const f of ["", "web/app.js", "sdxl_vae.js", "sdxl_vae_bg.wasm", "web/style.css"]) {
      assert.ok(srv.requests.includes(BASE + f), `${BASE + f} was not requested`);
    }
    assert.deepEqual(failed, []);
    assert.deepEqual(strays(), []);
  });

  test("the worker, started from the page's folder, finds the module and its wasm there", async () => {
    const mean = [...readNpy(join(FIXTURES, "small_64x48_mean.npy")).data];
    const r = await page.evaluate(async (mean) => {
      const { VaeWorker } = await import(new URL("web/vae-client.js", location.href).href);
      const w = new VaeWorker();
      await w.load("/weights/small.safetensors");
      const image = await w.decode({ width: 8, height: 6, data: new Float32Array(mean) });
      const latent = await w.encode(image);
      w.terminate();
      return { size: [image.width, image.height], latent: latent.data.length };
    }, mean);
    assert.deepEqual(r, { size: [64, 48], latent: mean.length });
    assert.ok(srv.requests.includes(`${BASE}web/vae-worker.js`));
    assert.deepEqual(failed, []);
    assert.deepEqual(strays(), []);
  });
});
